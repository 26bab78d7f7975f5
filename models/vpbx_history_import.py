"""Import of the PBX call history of a date range, in batches in the background.

A manager creates an import (PBX account, range) and starts it; the shipped cron processes a few
pages per run through the pager shared with the sync (``vpbx.pbx._vpbx_page_history``), one
committed transaction per page with the progress, and triggers itself again while work is left:
never one long request. Records take the same path as webhooks and the sync
(``vpbx.pbx._vpbx_history_store``), so an import over calls already logged adds nothing.
"""

import logging
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..const import CRON_HISTORY_IMPORT
from ..services.errors import VpbxError
from ..services.transaction import LOCK_IMPORT, advisory_lock

_logger = logging.getLogger(__name__)

PAGES_PER_RUN = 10
#: Failures in a row after which an import stops (PBX down, rate limited) instead of retrying.
MAX_FAILURES = 5
RETRY_DELAY = timedelta(minutes=2)


class VpbxHistoryImport(models.Model):
    _name = "vpbx.history.import"
    _description = "VPBX History Import"
    _order = "id desc"

    name = fields.Char(string="Name", compute="_compute_name", store=True)
    pbx_id = fields.Many2one(
        "vpbx.pbx",
        string="PBX Account",
        required=True,
        index=True,
        default=lambda self: self.env["vpbx.pbx"].search(
            [("company_id", "=", self.env.company.id)], limit=1
        ),
    )
    company_id = fields.Many2one(
        "res.company", related="pbx_id.company_id", store=True, index=True, precompute=True
    )
    date_from = fields.Datetime(
        string="From",
        required=True,
        default=lambda self: fields.Datetime.now() - timedelta(days=90),
    )
    date_to = fields.Datetime(string="To", required=True, default=fields.Datetime.now)
    state = fields.Selection(
        [("draft", "Draft"), ("running", "Running"), ("done", "Done"), ("failed", "Failed")],
        string="Status",
        default="draft",
        required=True,
        readonly=True,
        copy=False,
        index=True,
    )
    next_page = fields.Integer(string="Next Page", default=1, readonly=True, copy=False)
    pages_done = fields.Integer(string="Pages Done", readonly=True, copy=False)
    total_pages = fields.Integer(
        string="Total Pages", readonly=True, copy=False, help="As announced by the PBX."
    )
    pages_left = fields.Integer(string="Pages Left", compute="_compute_progress")
    progress = fields.Float(string="Progress", compute="_compute_progress")
    record_count = fields.Integer(string="Records Imported", readonly=True, copy=False)
    new_count = fields.Integer(string="New Calls", readonly=True, copy=False)
    skipped_count = fields.Integer(
        string="Records Skipped",
        readonly=True,
        copy=False,
        help="Records that could not be read (no call id, bad field types); see the server log.",
    )
    failure_count = fields.Integer(string="Failures in a Row", readonly=True, copy=False)
    last_error = fields.Text(string="Last Error", readonly=True, copy=False)
    started_at = fields.Datetime(string="Started", readonly=True, copy=False)
    finished_at = fields.Datetime(string="Finished", readonly=True, copy=False)

    @api.depends("date_from", "date_to")
    def _compute_name(self):
        for task in self:
            task.name = self.env._(
                "Call history %(start)s - %(end)s",
                start=(task.date_from and fields.Date.to_string(task.date_from)) or "?",
                end=(task.date_to and fields.Date.to_string(task.date_to)) or "?",
            )

    @api.depends("pages_done", "total_pages", "state")
    def _compute_progress(self):
        for task in self:
            if task.state == "done":
                task.pages_left, task.progress = 0, 100.0
            elif task.total_pages:
                task.pages_left = max(task.total_pages - task.pages_done, 0)
                task.progress = min(100.0, 100.0 * task.pages_done / task.total_pages)
            else:
                task.pages_left, task.progress = 0, 0.0

    @api.constrains("date_from", "date_to")
    def _check_dates(self):
        for task in self:
            if task.date_from and task.date_to and task.date_from >= task.date_to:
                raise ValidationError(self.env._("The start of the range must be before its end."))

    # ------------------------------------------------------------------ buttons

    def action_start(self):
        """Start (or resume, from the next page) the import in the background."""
        for task in self:
            if task.state not in ("draft", "failed"):
                continue
            task.pbx_id._vpbx_client()  # a clear error when the PBX is not configured
            task.write(
                {
                    "state": "running",
                    "failure_count": 0,
                    "last_error": False,
                    "started_at": task.started_at or fields.Datetime.now(),
                    "finished_at": False,
                }
            )
        self._vpbx_trigger()
        return True

    def action_stop(self):
        """Pause a running import; Start resumes it at the next page."""
        self.filtered(lambda t: t.state == "running").write({"state": "draft"})
        return True

    def action_restart(self):
        """Start again from the first page (the calls already imported are not duplicated)."""
        self.filtered(lambda t: t.state != "running").write(
            {
                "state": "draft",
                "next_page": 1,
                "pages_done": 0,
                "total_pages": 0,
                "record_count": 0,
                "new_count": 0,
                "skipped_count": 0,
                "failure_count": 0,
                "last_error": False,
                "started_at": False,
                "finished_at": False,
            }
        )
        return True

    def action_refresh(self):
        return True

    def _vpbx_trigger(self, at=None):
        cron = self.env.ref(CRON_HISTORY_IMPORT, raise_if_not_found=False)
        if cron:
            cron.sudo()._trigger(at)

    # ------------------------------------------------------------------ background work

    @api.model
    def _cron_vpbx_history_import(self, max_pages=PAGES_PER_RUN):
        """Process up to ``max_pages`` pages of the running imports, then trigger the cron again
        while work is left. Each import runs in a cursor of its own and commits page by page."""
        self.env.flush_all()
        budget = max_pages
        again = None
        for task_id in self.sudo().search([("state", "=", "running")], order="id").ids:
            if budget <= 0:
                again = fields.Datetime.now()
                break
            with self.env.registry.cursor() as cr:
                task = self.with_env(self.env(cr=cr, su=True)).browse(task_id)
                pages, retry_at = task._vpbx_run_batch(budget)
                budget -= pages
                if retry_at:
                    again = min(again, retry_at) if again else retry_at
        if again:
            self._vpbx_trigger(again)
        return max_pages - budget

    def _vpbx_run_batch(self, max_pages):
        """Import up to ``max_pages`` pages; returns (pages done, when to run again or None)."""
        self.ensure_one()
        cr = self.env.cr
        with advisory_lock(cr, LOCK_IMPORT, self.id) as taken:
            if not taken:
                return 0, fields.Datetime.now() + RETRY_DELAY
            try:
                result = self._vpbx_pages(max_pages)
            except Exception as error:  # recorded on the import, never raised to the cron
                cr.rollback()
                self.env.invalidate_all()
                result = self._vpbx_failed(error)
            cr.commit()  # pylint: disable=invalid-commit
        return result

    def _vpbx_pages(self, max_pages):
        pbx = self.pbx_id
        client = pbx._vpbx_client()
        settings = pbx._vpbx_call_settings()
        # months-old calls: no chatter notes, no call-back activities
        history = pbx.with_context(vpbx_no_followup=True)

        def store_page(items, page, total, more):
            self.invalidate_recordset(["state"])
            if self.state != "running":  # stopped meanwhile: this page is left for Start
                return False
            result = history._vpbx_history_store(items, settings)
            vals = {
                "next_page": page + 1,
                "pages_done": self.pages_done + 1,
                "total_pages": max(total, page),
                "record_count": self.record_count + result["count"],
                "new_count": self.new_count + result["new"],
                "skipped_count": self.skipped_count + result["skipped"],
                "failure_count": 0,
                "last_error": False,
            }
            if not more:
                vals.update(state="done", finished_at=fields.Datetime.now())
            self.write(vals)
            return True

        self.invalidate_recordset(["state"])
        if self.state != "running":
            return 0, None
        done, left = pbx._vpbx_page_history(
            client, self.date_from, self.date_to, self.next_page, store_page, max_pages
        )
        self.invalidate_recordset(["state"])
        if left and self.state == "running":
            return done, fields.Datetime.now()
        return done, None

    def _vpbx_failed(self, error):
        """Record a failure: a passing one (PBX down, rate limit) is retried a few times later,
        anything else stops the import (Start resumes it at the failed page)."""
        text = self.pbx_id._vpbx_error_text(error)
        failures = self.failure_count + 1
        retry = isinstance(error, VpbxError) and error.retryable and failures < MAX_FAILURES
        if isinstance(error, VpbxError | UserError):
            _logger.warning("VPBX history import %s: %s", self.id, text)
        else:
            _logger.exception("VPBX history import %s failed", self.id)
        vals = {"last_error": text, "failure_count": failures}
        if not retry:
            vals.update(state="failed", finished_at=fields.Datetime.now())
        self.write(vals)
        return 0, (fields.Datetime.now() + RETRY_DELAY) if retry else None
