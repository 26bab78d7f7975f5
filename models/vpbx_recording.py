"""The archive of a call's recording in Odoo's filestore (per account, off by default).

The PBX's recording link may expire; an account with *Archive recordings* on keeps a copy. A
scheduled action (never the webhook request) picks the ended calls of such accounts that have
an http(s) recording and no archive row yet, then fetches each pending one
(``services.recording_fetch``: public addresses only unless the account lists the host, a size
limit, a time-out, audio only), each in a transaction of its own. A failure that may pass (a
time-out, a 5xx) is tried again later, up to MAX_ATTEMPTS; a 404 (expired link), a refused
address, HTML instead of audio or a file over the limit are final, with their reason on the row.

The audio is an attachment of the archive row (``res_model='vpbx.recording'``): only VPBX
managers reach it through Odoo's own routes; users play it through
``/vpbx/call/<id>/recording``, which checks the call first (controllers/recording.py).
"""

import logging
import time
from datetime import timedelta

from odoo import api, fields, models
from odoo.tools.sql import create_index

from ..services.recording_fetch import FetchError, fetch
from ..services.retention import Budget
from .vpbx_webhook_event import queue_time_budget

_logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
#: Minutes before attempt n+1: 5, 10, 20, 40
RETRY_MINUTES = 5
#: Calls looked for by one run, and their age at most (older ones are left alone)
ENQUEUE_BATCH = 500
ENQUEUE_DAYS = 7
FETCH_BATCH = 20
#: The next recording to fetch: the oldest pending row of an archiving account that is due.
RECORDING_CLAIM = """
    SELECT r.id FROM vpbx_recording r
      JOIN vpbx_call c ON c.id = r.call_id
      JOIN vpbx_pbx p ON p.id = c.pbx_id
     WHERE r.state = 'pending' AND p.recording_archive
       AND (r.next_attempt IS NULL OR r.next_attempt <= %s)
     ORDER BY r.id LIMIT 1 FOR UPDATE OF r SKIP LOCKED
"""

ERROR_KINDS = [
    ("not_http", "Not an http(s) link"),
    ("refused", "Private or local address refused"),
    ("unreachable", "PBX unreachable"),
    ("timeout", "Time-out"),
    ("gone", "Expired or gone on the PBX"),
    ("http_error", "HTTP error"),
    ("too_large", "Too large"),
    ("not_audio", "Not audio"),
]


class VpbxRecording(models.Model):
    _name = "vpbx.recording"
    _description = "VPBX Archived Recording"
    _order = "id desc"
    _rec_name = "call_id"

    call_id = fields.Many2one(
        "vpbx.call", string="Call", required=True, readonly=True, index=True, ondelete="cascade"
    )
    pbx_id = fields.Many2one(related="call_id.pbx_id", store=True, string="PBX Account")
    company_id = fields.Many2one(related="call_id.company_id", store=True, string="Company")
    state = fields.Selection(
        [
            ("pending", "Pending"),
            ("archived", "Archived"),
            ("failed", "Failed"),
            ("purged", "Removed (retention)"),
        ],
        string="Archive",
        required=True,
        default="pending",
        readonly=True,
        index=True,
    )
    error_kind = fields.Selection(ERROR_KINDS, string="Reason", readonly=True)
    error_detail = fields.Char(string="Detail", readonly=True)
    attempts = fields.Integer(string="Attempts", readonly=True)
    next_attempt = fields.Datetime(string="Next Attempt", readonly=True)
    archived_at = fields.Datetime(string="Archived", readonly=True)
    size = fields.Integer(string="Size (bytes)", readonly=True)
    mimetype = fields.Char(string="Type", readonly=True)
    attachment_id = fields.Many2one(
        "ir.attachment", string="Audio", readonly=True, ondelete="set null"
    )

    _sql_constraints = [
        ("call_uniq", "unique(call_id)", "A call's recording is archived once."),
    ]

    def init(self):
        super().init()
        # each fetch claims the oldest pending row: through the primary key it would walk past
        # every archived one first (one per recorded call, kept for months)
        create_index(
            self.env.cr,
            "vpbx_recording_pending_index",
            self._table,
            ["id"],
            where="state = 'pending'",
        )

    # ------------------------------------------------------------------ the scheduled action

    @api.model
    def _cron_vpbx_archive_recordings(self, time_limit=None, batch=FETCH_BATCH):
        """Queue the new recordings of archiving accounts, then fetch the due ones; COMMITS
        after each. Returns the number of recordings tried."""
        budget = Budget(time_limit or queue_time_budget())
        self._vpbx_enqueue()
        self.env.cr.commit()  # pylint: disable=invalid-commit
        tried = 0
        while not budget.spent():
            self.env.cr.execute(RECORDING_CLAIM, [fields.Datetime.now()])
            row = self.env.cr.fetchone()
            if not row:
                break
            self.browse(row[0])._vpbx_archive()
            self.env.flush_all()
            self.env.cr.commit()  # pylint: disable=invalid-commit
            tried += 1
            if tried >= batch:
                cron = self.env.ref("sentech_vpbx.ir_cron_vpbx_archive_recordings", False)
                if cron:
                    cron.sudo()._trigger()
                break
        return tried

    @api.model
    def _vpbx_enqueue(self):
        """One pending row per ended call of an archiving account with an http(s) link."""
        self.env.flush_all()
        self.env.cr.execute(
            """
            INSERT INTO vpbx_recording (call_id, pbx_id, company_id, state, attempts,
                                        create_uid, create_date, write_uid, write_date)
            SELECT c.id, c.pbx_id, c.company_id, 'pending', 0,
                   %(uid)s, now() AT TIME ZONE 'UTC', %(uid)s, now() AT TIME ZONE 'UTC'
              FROM vpbx_call c JOIN vpbx_pbx p ON p.id = c.pbx_id
             WHERE p.recording_archive AND c.is_final
               AND (c.recording_url ILIKE 'http://%%' OR c.recording_url ILIKE 'https://%%')
               AND c.start_time >= (now() AT TIME ZONE 'UTC') - %(days)s * interval '1 day'
               AND NOT EXISTS (SELECT 1 FROM vpbx_recording r WHERE r.call_id = c.id)
             LIMIT %(limit)s
            ON CONFLICT (call_id) DO NOTHING
            """,
            {"uid": self.env.uid, "days": ENQUEUE_DAYS, "limit": ENQUEUE_BATCH},
        )
        return self.env.cr.rowcount

    def _vpbx_archive(self):
        """Fetch this row's recording and store it, or record why not."""
        self.ensure_one()
        call, pbx = self.call_id, self.call_id.pbx_id
        hosts = (pbx.recording_allowed_hosts or "").replace(";", ",").split(",")
        started = time.monotonic()
        try:
            content, mimetype = fetch(
                call.recording_url,
                max_bytes=max(pbx.recording_max_mb, 1) * 1024 * 1024,
                timeout=max(pbx.recording_timeout, 1.0),
                allowed_hosts=hosts,
            )
        except FetchError as error:
            return self._vpbx_failed(error)
        extension = mimetype.split("/", 1)[1].replace("mpeg", "mp3").replace("x-", "")
        attachment = self.env["ir.attachment"].create(
            {
                "name": f"{call.vpbx_call_id}.{extension}",
                "raw": content,
                "mimetype": mimetype,
                "res_model": self._name,
                "res_id": self.id,
            }
        )
        self.write(
            {
                "state": "archived",
                "attachment_id": attachment.id,
                "size": len(content),
                "mimetype": mimetype,
                "archived_at": fields.Datetime.now(),
                "attempts": self.attempts + 1,
                "error_kind": False,
                "error_detail": False,
                "next_attempt": False,
            }
        )
        _logger.info(
            "VPBX recording of call %s archived: %s bytes in %.1f s",
            call.id,
            len(content),
            time.monotonic() - started,
        )
        return True

    def _vpbx_failed(self, error):
        attempts = self.attempts + 1
        again = error.retry and attempts < MAX_ATTEMPTS
        self.write(
            {
                "state": "pending" if again else "failed",
                "attempts": attempts,
                "error_kind": error.kind,
                "error_detail": (error.detail or "")[:500],
                "next_attempt": fields.Datetime.now()
                + timedelta(minutes=RETRY_MINUTES * 2 ** (attempts - 1))
                if again
                else False,
            }
        )
        _logger.info(
            "VPBX recording of call %s not archived (%s, %s)%s",
            self.call_id.id,
            error.kind,
            error.detail,
            ", tried again later" if again else "",
        )
        return False

    def unlink(self):
        self.attachment_id.sudo().unlink()
        return super().unlink()

    def action_vpbx_retry(self):
        """Managers: fetch again now (after a fix of the account's settings)."""
        self.check_access("write")
        self.sudo().write({"state": "pending", "next_attempt": False, "attempts": 0})
        cron = self.env.ref("sentech_vpbx.ir_cron_vpbx_archive_recordings", False)
        if cron:
            cron.sudo()._trigger()
        return True
