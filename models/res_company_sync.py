"""History sync and webhook registration: no call is lost, even when webhooks are.

The sync pulls the PBX call history of a window ``[cursor - overlap, now]`` page by page; every
record takes the same path as a webhook (``parse_record`` with the company's mapping, then
``vpbx.call._vpbx_upsert_records``), so overlaps and calls that also came by webhook never
duplicate. Each page is committed with the progress (window, next page); a run that fails keeps
that progress and the next run resumes at the page that failed. The cursor moves to the end of
the window only when its last page is stored.
"""

import logging

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..services import history_sync
from ..services.call_record import PayloadError, parse_record
from ..services.errors import VpbxError

_logger = logging.getLogger(__name__)

#: The PBX's type for live call events (ringing, answered, hangup).
CALL_EVENT_TYPE = "call_event"


def _split(text):
    return [part.strip() for part in (text or "").split(",") if part.strip()]


class ResCompany(models.Model):
    _inherit = "res.company"

    vpbx_sync_enabled = fields.Boolean(
        string="VPBX History Sync",
        compute="_compute_vpbx_sync_enabled",
        store=True,
        readonly=False,
        help="Pull the call history from the PBX every few minutes, so that calls whose webhook"
        " never arrived are logged too. On by default once the API URL and key are set.",
    )
    vpbx_history_version = fields.Selection(
        [("v2", "v2 (callTransaction/search)"), ("v3", "v3 (call-transaction/search)")],
        string="VPBX History API",
        default="v2",
        required=True,
    )
    vpbx_history_time_unit = fields.Selection(
        [("ms", "Milliseconds"), ("s", "Seconds")],
        string="VPBX History Date Unit",
        default="ms",
        required=True,
        help="Unit of fromDate/toDate in history searches.",
    )
    vpbx_sync_overlap = fields.Integer(
        string="VPBX Sync Overlap (minutes)",
        default=30,
        help="Each sync starts this long before the end of the previous one: a call still going"
        " on at the last sync is listed once it ends, with its start time before that.",
    )
    vpbx_sync_cursor = fields.Datetime(
        string="VPBX Synced Until",
        copy=False,
        help="End of the last window fully synced; the next sync starts there minus the overlap.",
    )
    vpbx_sync_last_run = fields.Datetime(string="VPBX Last Sync", copy=False, readonly=True)
    vpbx_sync_last_attempt = fields.Datetime(
        string="VPBX Last Sync Attempt", copy=False, readonly=True
    )
    vpbx_sync_last_count = fields.Integer(string="VPBX Records Synced", copy=False, readonly=True)
    vpbx_sync_last_new = fields.Integer(string="VPBX Calls Added", copy=False, readonly=True)
    vpbx_sync_last_error = fields.Text(string="VPBX Last Sync Error", copy=False, readonly=True)
    # the window being synced; next page 0 means none is pending
    vpbx_sync_window_from = fields.Datetime(copy=False, readonly=True)
    vpbx_sync_window_to = fields.Datetime(copy=False, readonly=True)
    vpbx_sync_next_page = fields.Integer(
        string="VPBX Sync Resumes at Page", copy=False, readonly=True
    )
    vpbx_sync_window_count = fields.Integer(copy=False, readonly=True)
    vpbx_sync_window_new = fields.Integer(copy=False, readonly=True)
    vpbx_webhook_register_wrapped = fields.Boolean(
        string="VPBX Webhook Body Wrapped",
        default=True,
        help='Register with {"webhook": {...}} (documented); off: the fields at the top level.',
    )
    vpbx_webhook_register_type = fields.Char(
        string="VPBX Webhook Type", default="call", help="Type of the call webhook, e.g. call."
    )
    vpbx_webhook_register_events = fields.Char(
        string="VPBX Live Call Events",
        help="Comma-separated live events (e.g. ringing,answered,hangup): when set, a"
        " call_event webhook with these events is registered too.",
    )

    @api.depends("vpbx_api_url", "vpbx_api_key")
    def _compute_vpbx_sync_enabled(self):
        for company in self:
            configured = company.sudo()
            company.vpbx_sync_enabled = bool(configured.vpbx_api_url and configured.vpbx_api_key)

    # ------------------------------------------------------------------ one history page

    def _vpbx_history_page(self, client, date_from, date_to, page):
        """One page of the PBX call history of [date_from, date_to] (naive UTC datetimes)."""
        self.ensure_one()
        unit = self.vpbx_history_time_unit or "ms"
        return client.search_history(
            history_sync.to_epoch(date_from, unit),
            history_sync.to_epoch(date_to, unit),
            page=page,
            size=history_sync.PAGE_SIZE,
            version=self.vpbx_history_version or "v2",
        )

    def _vpbx_history_store(self, items):
        """Map and upsert the records of a history page, exactly as webhook records are.

        A record that cannot be read is skipped (and logged): it must not block the sync.
        Returns ``{'count', 'new', 'skipped'}``.
        """
        self.ensure_one()
        mapping = self._vpbx_call_mapping()
        records, skipped = [], 0
        for item in items:
            try:
                records.append(parse_record(item, mapping))
            except PayloadError as error:
                skipped += 1
                _logger.warning(
                    "VPBX history of company %s: a record was skipped: %s", self.id, error
                )
        Call = self.env["vpbx.call"].sudo()
        call_ids = list(dict.fromkeys(record.call_id for record in records))
        known = (
            Call.search_count([("company_id", "=", self.id), ("vpbx_call_id", "in", call_ids)])
            if call_ids
            else 0
        )
        Call._vpbx_upsert_records(self, records)
        return {"count": len(records), "new": len(call_ids) - known, "skipped": skipped}

    def _vpbx_sync_error_text(self, error):
        """A readable text of what stopped a sync or an import."""
        if isinstance(error, VpbxError):
            return self._vpbx_error_message(error)
        if isinstance(error, UserError):
            return error.args[0] if error.args else str(error)
        return f"{type(error).__name__}: {error}"

    # ------------------------------------------------------------------ sync

    @api.model
    def _cron_vpbx_sync(self):
        """Sync every company with the sync on and a configured PBX, each in its own
        transactions: a company that fails does not stop the others."""
        companies = (
            self.sudo()
            .search([("vpbx_sync_enabled", "=", True), ("vpbx_api_url", "!=", False)])
            .filtered("vpbx_api_key")
        )
        return companies._vpbx_history_sync()

    def _vpbx_history_sync(self):
        """Sync the history of these companies; returns ``{company_id: result}``.

        Runs in a cursor of its own per company (it commits page by page), never raises: an
        error is stored in ``vpbx_sync_last_error`` and returned as ``{'error': text}``.
        """
        self.env.flush_all()
        results = {}
        for company_id in self.ids:
            with self.env.registry.cursor() as cr:
                company = self.with_env(self.env(cr=cr, su=True)).browse(company_id)
                try:
                    results[company_id] = company._vpbx_sync_locked()
                except Exception as error:  # any failure is recorded, the cron goes on
                    cr.rollback()
                    company.env.invalidate_all()
                    text = company._vpbx_sync_error_text(error)
                    if isinstance(error, VpbxError | UserError):
                        _logger.warning("VPBX history sync of company %s: %s", company_id, text)
                    else:
                        _logger.exception("VPBX history sync of company %s failed", company_id)
                    company.write(
                        {
                            "vpbx_sync_last_error": text,
                            "vpbx_sync_last_attempt": fields.Datetime.now(),
                        }
                    )
                    cr.commit()  # pylint: disable=invalid-commit
                    results[company_id] = {"error": text}
        return results

    def _vpbx_sync_locked(self):
        """Run the sync under an advisory lock: a second run of the same company (the cron and
        a Sync now) returns at once instead of paging the same window in parallel."""
        self.ensure_one()
        cr = self.env.cr
        if not history_sync.advisory_lock(cr, history_sync.LOCK_SYNC, self.id):
            return {"busy": True}
        try:
            result = self._vpbx_sync_run()
        except BaseException:
            cr.rollback()
            history_sync.advisory_unlock(cr, history_sync.LOCK_SYNC, self.id)
            raise
        history_sync.advisory_unlock(cr, history_sync.LOCK_SYNC, self.id)
        cr.commit()  # pylint: disable=invalid-commit
        return result

    def _vpbx_sync_run(self):
        """A pending window left by a failed run first, then the window up to now."""
        self.ensure_one()
        client = self._vpbx_client()
        total = {"count": 0, "new": 0, "skipped": 0, "pages": 0, "windows": 0}
        for _round in range(2):
            resumed = bool(self.vpbx_sync_next_page)
            if not resumed:
                now = fields.Datetime.now()
                start, end = history_sync.sync_window(
                    self.vpbx_sync_cursor, now, self.vpbx_sync_overlap
                )
                self.write(
                    {
                        "vpbx_sync_window_from": start,
                        "vpbx_sync_window_to": end,
                        "vpbx_sync_next_page": 1,
                        "vpbx_sync_window_count": 0,
                        "vpbx_sync_window_new": 0,
                        "vpbx_sync_last_attempt": now,
                    }
                )
                self.env.cr.commit()  # pylint: disable=invalid-commit
            stats = self._vpbx_sync_pages(client)
            for key, value in stats.items():
                total[key] += value
            total["windows"] += 1
            if not resumed:
                break
        return total

    def _vpbx_sync_pages(self, client):
        """Page through the pending window, one committed transaction per page."""
        Call = self.env["vpbx.call"]
        stats = {"count": 0, "new": 0, "skipped": 0, "pages": 0}
        while self.vpbx_sync_next_page:
            page = self.vpbx_sync_next_page
            payload = self._vpbx_history_page(
                client, self.vpbx_sync_window_from, self.vpbx_sync_window_to, page
            )
            items = history_sync.page_items(payload)
            more = (
                bool(items)
                and history_sync.has_next(payload, page)
                and page < history_sync.MAX_PAGES
            )

            def store(items=items, more=more, page=page):
                result = self._vpbx_history_store(items)
                vals = {
                    "vpbx_sync_window_count": self.vpbx_sync_window_count + result["count"],
                    "vpbx_sync_window_new": self.vpbx_sync_window_new + result["new"],
                    "vpbx_sync_next_page": page + 1,
                }
                if not more:
                    vals.update(
                        vpbx_sync_cursor=self.vpbx_sync_window_to,
                        vpbx_sync_next_page=0,
                        vpbx_sync_window_from=False,
                        vpbx_sync_window_to=False,
                        vpbx_sync_last_run=fields.Datetime.now(),
                        vpbx_sync_last_count=vals["vpbx_sync_window_count"],
                        vpbx_sync_last_new=vals["vpbx_sync_window_new"],
                        vpbx_sync_last_error=False,
                    )
                self.write(vals)
                return result

            result = Call._vpbx_in_new_transaction(store)
            for key, value in result.items():
                stats[key] += value
            stats["pages"] += 1
        return stats

    def action_vpbx_sync_now(self):
        """Sync the history now (the cron does it every few minutes)."""
        self.ensure_one()
        self._vpbx_check_manager()
        self._vpbx_client()  # a clear error when the PBX is not configured
        result = self._vpbx_history_sync()[self.id]
        if result.get("error"):
            return self._vpbx_notify(
                self.env._("The history sync failed: %(error)s", error=result["error"]),
                "danger",
                sticky=True,
            )
        if result.get("busy"):
            return self._vpbx_notify(
                self.env._("A history sync of this company is already running."), "warning"
            )
        return self._vpbx_notify(
            self.env._(
                "History synced: %(count)s records read, %(new)s new calls.",
                count=result["count"],
                new=result["new"],
            )
        )

    # ------------------------------------------------------------------ webhook registration

    def _vpbx_webhook_hooks(self, hook_type=None, events=None):
        """``[(type, events)]`` to register: the call webhook, and the live events if set."""
        self.ensure_one()
        hook_type = (hook_type or self.vpbx_webhook_register_type or "call").strip()
        events = _split(self.vpbx_webhook_register_events if events is None else events)
        if hook_type == CALL_EVENT_TYPE:
            return [(hook_type, events or None)]
        hooks = [(hook_type, None)]
        if events:
            hooks.append((CALL_EVENT_TYPE, events))
        return hooks

    def action_vpbx_register_webhook(self, wrapped=None, hook_type=None, events=None):
        """Register this company's webhook URL on the PBX (arguments: unsaved settings)."""
        self.ensure_one()
        self._vpbx_check_manager()
        client = self._vpbx_client()
        url = self._vpbx_webhook_url()
        wrapped = self.vpbx_webhook_register_wrapped if wrapped is None else wrapped
        hooks = self._vpbx_webhook_hooks(hook_type, events)
        for kind, kind_events in hooks:
            try:
                client.register_webhook(url, hook_type=kind, events=kind_events, wrapped=wrapped)
            except VpbxError as error:
                _logger.info("VPBX webhook %s of company %s: %s", kind, self.id, error.code)
                raise self._vpbx_user_error(error) from None
        return self._vpbx_notify(
            self.env._(
                "The webhook is registered on the PBX (%(types)s): calls will be sent to Odoo"
                " when they end.",
                types=", ".join(kind for kind, _events in hooks),
            )
        )

    def action_vpbx_list_webhooks(self):
        """Show the webhooks the PBX has, marking those that point to this company."""
        self.ensure_one()
        self._vpbx_check_manager()
        client = self._vpbx_client()
        try:
            hooks = client.list_webhooks()
        except VpbxError as error:
            raise self._vpbx_user_error(error) from None
        if not hooks:
            return self._vpbx_notify(self.env._("No webhook is registered on the PBX."), "warning")
        own_url = self.sudo().vpbx_webhook_token and self._vpbx_webhook_url(create=False)
        lines = []
        for hook in hooks:
            if not isinstance(hook, dict):
                lines.append(str(hook))
                continue
            events = hook.get("events")
            line = self.env._(
                "%(type)s: %(url)s", type=hook.get("type") or "?", url=hook.get("url") or "?"
            )
            if events:
                line = self.env._(
                    "%(hook)s (events: %(events)s)",
                    hook=line,
                    events=", ".join(map(str, events)) if isinstance(events, list) else events,
                )
            if own_url and hook.get("url") == own_url:
                line = self.env._("%(hook)s [this company]", hook=line)
            lines.append(line)
        return self._vpbx_notify(
            self.env._("Webhooks on the PBX: %(hooks)s", hooks="; ".join(lines)),
            "info",
            sticky=True,
        )

    def action_vpbx_remove_webhook(self, hook_type=None, events=None):
        """Remove the webhook(s) of the configured types from the PBX."""
        self.ensure_one()
        self._vpbx_check_manager()
        client = self._vpbx_client()
        removed, missing = [], []
        for kind, _events in self._vpbx_webhook_hooks(hook_type, events):
            try:
                client.destroy_webhook(kind)
            except VpbxError as error:
                if error.code != "resource_not_found":
                    raise self._vpbx_user_error(error) from None
                missing.append(kind)
            else:
                removed.append(kind)
        if not removed:
            return self._vpbx_notify(
                self.env._("The PBX has no webhook of type %(types)s.", types=", ".join(missing)),
                "warning",
            )
        return self._vpbx_notify(
            self.env._(
                "Webhook removed from the PBX (%(types)s): calls now arrive only through the"
                " history sync.",
                types=", ".join(removed),
            )
        )
