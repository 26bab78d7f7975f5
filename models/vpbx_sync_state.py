"""History sync of a PBX account: no call is lost, even when webhooks are.

The sync pulls the PBX call history of a window ``[cursor - overlap, now]`` page by page through
the pager shared with the import (``vpbx.pbx._vpbx_page_history``); every record takes the same
path as a webhook, so overlaps and calls that also came by webhook never duplicate. Each page is
committed with the progress (window, next page) on this model's row, never on the account or the
company: an administrator saving either never collides with a running sync. A run that fails
keeps that progress and the next run resumes at the page that failed; the cursor moves to the
end of the window only when its last page is stored.
"""

import logging

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..services import history_sync
from ..services.errors import VpbxError
from ..services.transaction import LOCK_SYNC, advisory_lock

_logger = logging.getLogger(__name__)


class VpbxSyncState(models.Model):
    _name = "vpbx.sync.state"
    _description = "VPBX History Sync State"
    _rec_name = "pbx_id"

    pbx_id = fields.Many2one(
        "vpbx.pbx", string="PBX Account", required=True, ondelete="cascade", index=True
    )
    cursor = fields.Datetime(
        string="Synced Until",
        help="End of the last window fully synced; the next sync starts there minus the overlap.",
    )
    last_run = fields.Datetime(string="Last Sync")
    last_attempt = fields.Datetime(string="Last Sync Attempt")
    last_count = fields.Integer(string="Records Synced")
    last_new = fields.Integer(string="Calls Added")
    last_error = fields.Text(string="Last Sync Error")
    # the window being synced; next page 0 means none is pending
    window_from = fields.Datetime(string="Window Start")
    window_to = fields.Datetime(string="Window End")
    next_page = fields.Integer(string="Sync Resumes at Page")
    window_count = fields.Integer(string="Records in Window")
    window_new = fields.Integer(string="New Calls in Window")

    _sql_constraints = [
        ("pbx_uniq", "unique(pbx_id)", "A PBX account has one sync state."),
    ]

    @api.model
    def _vpbx_state_of(self, pbx):
        """The sync state row of `pbx`, created on first need."""
        state = self.sudo().search([("pbx_id", "=", pbx.id)], limit=1)
        return state or self.sudo().create({"pbx_id": pbx.id})

    # ------------------------------------------------------------------ runs

    @api.model
    def _cron_vpbx_sync(self):
        """Sync every active account with the sync on and a configured PBX, each in its own
        transactions: an account that fails does not stop the others."""
        accounts = (
            self.env["vpbx.pbx"]
            .sudo()
            .search([("sync_enabled", "=", True), ("api_url", "!=", False)])
            .filtered("api_key")
        )
        return self._vpbx_sync(accounts)

    @api.model
    def _vpbx_sync(self, accounts):
        """Sync the history of these accounts; returns ``{pbx_id: result}``.

        Runs in a cursor of its own per account (it commits page by page) and never raises: an
        error is stored in ``last_error`` and returned as ``{'error': text}``.
        """
        self.env.flush_all()
        results = {}
        for pbx_id in accounts.ids:
            with self.env.registry.cursor() as cr:
                env = self.env(cr=cr, su=True)
                pbx = env["vpbx.pbx"].browse(pbx_id)
                state = env["vpbx.sync.state"]._vpbx_state_of(pbx)
                cr.commit()  # pylint: disable=invalid-commit
                with advisory_lock(cr, LOCK_SYNC, pbx_id) as taken:
                    if not taken:
                        # the cron and a Sync now: the second returns instead of paging twice
                        results[pbx_id] = {"busy": True}
                        continue
                    try:
                        results[pbx_id] = state._vpbx_run(pbx)
                    except Exception as error:  # recorded on the state, the cron goes on
                        cr.rollback()
                        env.invalidate_all()
                        results[pbx_id] = state._vpbx_failed(pbx, error)
                    cr.commit()  # pylint: disable=invalid-commit
        return results

    def _vpbx_failed(self, pbx, error):
        text = pbx._vpbx_error_text(error)
        if isinstance(error, VpbxError | UserError):
            _logger.warning("VPBX history sync of account %s: %s", pbx.id, text)
        else:
            _logger.exception("VPBX history sync of account %s failed", pbx.id)
        self.write({"last_error": text, "last_attempt": fields.Datetime.now()})
        return {"error": text}

    def _vpbx_run(self, pbx):
        """A pending window left by a failed run first, then the window up to now."""
        self.ensure_one()
        client = pbx._vpbx_client()
        settings = pbx._vpbx_call_settings()
        total = {"count": 0, "new": 0, "skipped": 0, "pages": 0, "windows": 0}
        for _round in range(2):
            resumed = bool(self.next_page)
            if not resumed:
                now = fields.Datetime.now()
                start, end = history_sync.sync_window(self.cursor, now, pbx.sync_overlap)
                self.write(
                    {
                        "window_from": start,
                        "window_to": end,
                        "next_page": 1,
                        "window_count": 0,
                        "window_new": 0,
                        "last_attempt": now,
                    }
                )
                self.env.cr.commit()  # pylint: disable=invalid-commit
            stats = {"count": 0, "new": 0, "skipped": 0}

            def store_page(items, page, _total, more, stats=stats):
                result = pbx._vpbx_history_store(items, settings)
                for key in stats:
                    stats[key] += result[key]
                self._vpbx_page_stored(result, page, more)

            pages, _left = pbx._vpbx_page_history(
                client,
                self.window_from,
                self.window_to,
                self.next_page,
                store_page,
                max_pages=history_sync.MAX_PAGES,
            )
            for key, value in stats.items():
                total[key] += value
            total["pages"] += pages
            total["windows"] += 1
            if not resumed:
                break
        return total

    def _vpbx_page_stored(self, result, page, more):
        """Progress after a stored page (in that page's transaction)."""
        vals = {
            "window_count": self.window_count + result["count"],
            "window_new": self.window_new + result["new"],
            "next_page": page + 1,
        }
        if not more:
            vals.update(
                cursor=self.window_to,
                next_page=0,
                window_from=False,
                window_to=False,
                last_run=fields.Datetime.now(),
                last_count=vals["window_count"],
                last_new=vals["window_new"],
                last_error=False,
            )
        self.write(vals)
