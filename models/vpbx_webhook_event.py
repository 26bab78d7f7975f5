"""Every authenticated webhook delivery, stored raw before it is processed.

The controller stores the event and commits, then processes it (``_vpbx_process(commit=True)``);
the HTTP answer only depends on the event being stored. A failed event stays visible with its
error and is processed again by the replay button or the retry cron, so a mapping can be fixed
and the deliveries replayed.
"""

import logging
import time
import traceback

from odoo import Command, api, fields, models

from ..services.call_record import PayloadError, parse_body, parse_record

_logger = logging.getLogger(__name__)

#: Processing runs of one event (the controller's first one included) before the cron gives up.
MAX_EVENT_ATTEMPTS = 5
#: The cron leaves recent events alone: the controller may still be processing them.
CRON_DELAY_MINUTES = 2
CRON_BATCH = 200
MAX_ERROR_LENGTH = 4000
QUEUE_CRON = "sentech_vpbx.ir_cron_vpbx_process_webhook_queue"
#: Deliveries processed in one transaction by the queue's scheduled action.
QUEUE_BATCH = 50
#: A run of the queue stops taking new batches after this many seconds (the next run goes on).
QUEUE_TIME_LIMIT = 120
#: A worker triggers the queue at most this often (seconds)...
QUEUE_WAKE_INTERVAL = 0.5
#: ...and a run of the queue looks once more this long after finding it empty.
QUEUE_GRACE = 0.6
#: dbname -> time.monotonic() of this worker's last trigger of the queue
_LAST_WAKE = {}


def _lt(source):
    """Mark a PayloadError reason for the .pot extractor; it is translated when rendered."""
    return source


NOT_UTF8 = _lt("The payload is not valid UTF-8 text")
NO_RECORD = _lt("The payload holds no call record")
HAS_NUL = _lt("The payload contains NUL characters")


class VpbxWebhookEvent(models.Model):
    _name = "vpbx.webhook.event"
    _description = "VPBX Webhook Event"
    _order = "id desc"

    company_id = fields.Many2one(
        "res.company", string="Company", required=True, readonly=True, index=True
    )
    received_at = fields.Datetime(
        string="Received", required=True, readonly=True, default=fields.Datetime.now, index=True
    )
    remote_addr = fields.Char(string="Remote Address", readonly=True)
    content_type = fields.Char(string="Content Type", readonly=True)
    body = fields.Text(string="Body", readonly=True)
    state = fields.Selection(
        [
            ("new", "New"),
            ("processed", "Processed"),
            ("ignored", "Ignored"),
            ("failed", "Failed"),
            ("rejected", "Rejected"),
        ],
        string="Status",
        required=True,
        default="new",
        readonly=True,
        index=True,
        help="Ignored: every record of the body was a live event of a call that had already"
        " ended. Rejected: the body cannot be read (nothing to retry until the mapping changes)."
        " Failed: processing broke; the retry cron tries again.",
    )
    error = fields.Text(string="Error", readonly=True)
    call_ids = fields.Many2many(
        "vpbx.call",
        "vpbx_webhook_event_call_rel",
        "event_id",
        "call_id",
        string="Calls",
        readonly=True,
    )
    vpbx_call_id = fields.Char(string="PBX Call ID", readonly=True, index="btree_not_null")
    attempt_count = fields.Integer(string="Attempts", readonly=True)
    processed_at = fields.Datetime(string="Processed", readonly=True)

    @api.depends("received_at")
    def _compute_display_name(self):
        for event in self:
            event.display_name = self.env._("Webhook event #%(id)s", id=event.id or "")

    # ------------------------------------------------------------------ storing

    @api.model
    def _vpbx_store(self, company, body, content_type, remote_addr):
        """Store a delivery as received (the caller commits). Bytes that are not UTF-8 are kept
        with replacement characters and rejected at once.

        One INSERT, not the ORM's create: this runs on every delivery, and create's defaults
        and conversions cost as much as the rest of the answer. The values written are put in
        the record's cache, as create would.
        """
        vals = {
            "company_id": company.id,
            "content_type": (content_type or "")[:255],
            "remote_addr": remote_addr or False,
            "state": "new",
            "error": False,
            "attempt_count": 0,
        }
        try:
            vals["body"] = body.decode("utf-8-sig")
        except UnicodeDecodeError:
            vals.update(
                body=body.decode("utf-8", errors="replace"),
                state="rejected",
                error=PayloadError(NOT_UTF8).render(self.env._),
            )
        if "\x00" in vals["body"]:
            # PostgreSQL text cannot hold NUL; no JSON or form body has a raw one
            vals["body"] = vals["body"].replace("\x00", "\ufffd")
            if vals["state"] == "new":
                vals.update(state="rejected", error=PayloadError(HAS_NUL).render(self.env._))
        self.env.cr.execute(
            """
            INSERT INTO vpbx_webhook_event
                   (company_id, content_type, remote_addr, state, error, attempt_count, body,
                    received_at, create_uid, write_uid, create_date, write_date)
            VALUES (%(company_id)s, %(content_type)s, %(remote_addr)s, %(state)s, %(error)s,
                    %(attempt_count)s, %(body)s, now() AT TIME ZONE 'UTC', %(uid)s, %(uid)s,
                    now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')
         RETURNING id, received_at
            """,
            # vals hold the cache's values (False for empty); SQL wants NULL
            {
                **{key: None if value is False else value for key, value in vals.items()},
                "uid": self.env.uid,
            },
        )
        event_id, vals["received_at"] = self.env.cr.fetchone()
        event = self.sudo().browse(event_id)
        for fname, value in vals.items():
            self.env.cache.update(event, self._fields[fname], [value])
        return event

    # ------------------------------------------------------------------ processing

    def _vpbx_parse(self):
        """CallRecords of the body; PayloadError when it cannot be read or lacks a call id."""
        self.ensure_one()
        items = parse_body(self.body or "", self.content_type)
        if not items:
            raise PayloadError(NO_RECORD)
        mapping = self.company_id._vpbx_call_mapping()
        return [parse_record(item, mapping) for item in items]

    def _vpbx_process_one(self):
        """Parse and upsert; sets the state and returns {id: (state, error)}. Raises on a
        processing failure."""
        self.ensure_one()
        try:
            records = self._vpbx_parse()
        except PayloadError as error:
            return self._vpbx_reject(error)
        call_ids = list(dict.fromkeys(record.call_id for record in records))
        stale = []
        calls = self.env["vpbx.call"]._vpbx_upsert_records(self.company_id, records, stale=stale)
        self.write(
            {
                "state": "ignored" if len(stale) == len(records) else "processed",
                "error": False,
                # link, not set: set reads the relation first, and an event's calls only grow
                "call_ids": [Command.link(call_id) for call_id in calls.ids],
                "vpbx_call_id": ", ".join(call_ids)[:255],
                "attempt_count": self.attempt_count + 1,
                "processed_at": fields.Datetime.now(),
            }
        )
        return {self.id: (self.state, False)}

    def _vpbx_reject(self, error):
        """The body cannot be read (PayloadError): nothing to retry until the mapping changes."""
        self.ensure_one()
        self.write(
            {
                "state": "rejected",
                "error": error.render(self.env._),
                "attempt_count": self.attempt_count + 1,
                "processed_at": fields.Datetime.now(),
            }
        )
        return {self.id: (self.state, self.error)}

    def _vpbx_mark_failed(self, error):
        self.ensure_one()
        _logger.warning(
            "VPBX webhook event %s of company %s failed: %s",
            self.id,
            self.company_id.id,
            error,
            exc_info=error,
        )
        text = "".join(traceback.format_exception_only(type(error), error)).strip()
        self.write(
            {
                "state": "failed",
                "error": text[:MAX_ERROR_LENGTH],
                "attempt_count": self.attempt_count + 1,
                "processed_at": fields.Datetime.now(),
            }
        )
        return {self.id: ("failed", self.error)}

    def _vpbx_process(self, commit=False):
        """Process the events.

        commit=True (controller, cron: they own the cursor): each event is processed and
        committed on its own; a concurrency error is retried in a new transaction
        (``vpbx.call._vpbx_in_new_transaction``); any other error rolls back the work, marks the
        event failed and commits that.
        commit=False (buttons): each event in a savepoint of the caller's transaction.

        :return: {event id: (state, error)} as processing left them (a commit empties the
            cache: the controller answers from this instead of reading the events again).
        """
        Call = self.env["vpbx.call"]
        outcome = {}
        for event in self.sudo():
            if commit:
                try:
                    Call._vpbx_in_new_transaction(
                        lambda event=event: outcome.update(event._vpbx_process_one())
                    )
                except Exception as error:  # any failure is recorded, never raised
                    self.env.cr.rollback()
                    self.env.invalidate_all()
                    outcome.update(event._vpbx_mark_failed(error))
                    self.env.cr.commit()  # pylint: disable=invalid-commit
            else:
                try:
                    with self.env.cr.savepoint():
                        outcome.update(event._vpbx_process_one())
                except Exception as error:
                    outcome.update(event._vpbx_mark_failed(error))
        return outcome

    # ------------------------------------------------------------------ queued deliveries

    def _vpbx_enqueue(self):
        """Queued mode (controller, before its commit): reject an unreadable body at once, else
        wake the queue's scheduled action. Returns {id: (state, error)} like _vpbx_process."""
        self.ensure_one()
        try:
            self._vpbx_parse()
        except PayloadError as error:
            return self._vpbx_reject(error)
        except Exception:  # a fault of ours, not of the body: the queue records it
            _logger.exception("VPBX webhook event %s: the body could not be checked", self.id)
        self._vpbx_wake_queue()
        return {self.id: (self.state, self.error)}

    @api.model
    def _vpbx_wake_queue(self):
        """Trigger the queue's scheduled action, at most once per QUEUE_WAKE_INTERVAL per worker.

        A trigger wakes the cron workers through a NOTIFY sent on a new connection to the
        'postgres' database (Odoo does not pool those): ~5 ms, more than storing the delivery.
        A delivery that skips it is taken by the run its predecessor's trigger started: that
        run looks again QUEUE_GRACE after finding the queue empty (see _cron_vpbx_process_queue).
        """
        now = time.monotonic()
        dbname = self.env.cr.dbname
        if now - _LAST_WAKE.get(dbname, float("-inf")) < QUEUE_WAKE_INTERVAL:
            return False
        _LAST_WAKE[dbname] = now
        cron = self.env.ref(QUEUE_CRON, raise_if_not_found=False)
        if not cron:
            # deleted: the delivery is stored all the same, the retry job takes it later
            _logger.warning("VPBX: the scheduled action %s is missing", QUEUE_CRON)
            return False
        cron.sudo()._trigger()
        return True

    @api.model
    def _cron_vpbx_process_queue(
        self, batch=QUEUE_BATCH, time_limit=QUEUE_TIME_LIMIT, grace=QUEUE_GRACE
    ):
        """Process the queued deliveries (state new), oldest first, until none is left and,
        `grace` seconds later, still none (deliveries that did not trigger, _vpbx_wake_queue).

        Each batch is claimed with SKIP LOCKED (two runs never take the same events) and
        processed in ONE transaction: the per-delivery costs of a transaction are shared.
        If anything in a batch fails, the batch is rolled back and its events are processed
        one by one, each in its own transaction, so a failure is recorded on its event only.
        """
        deadline = time.monotonic() + time_limit
        done = 0
        while time.monotonic() < deadline:
            self.env.cr.execute(
                "SELECT id FROM vpbx_webhook_event WHERE state = 'new'"
                " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                [batch],
            )
            events = (
                self.sudo()
                .with_context(vpbx_batch_notes=True)
                .browse([row[0] for row in self.env.cr.fetchall()])
            )
            if not events:
                if grace <= 0:
                    break
                self.env.cr.commit()  # pylint: disable=invalid-commit
                time.sleep(grace)  # once: see _vpbx_wake_queue
                grace = 0
                continue
            try:
                for event in events:
                    event._vpbx_process_one()
                self.env.flush_all()
                self.env.cr.commit()  # pylint: disable=invalid-commit
            except Exception:  # replayed one by one below, where each failure is recorded
                self.env.cr.rollback()
                self.env.invalidate_all()
                events.with_context(vpbx_batch_notes=False)._vpbx_process(commit=True)
            done += len(events)
        return done

    def action_vpbx_replay(self):
        """Process the selected events again (after a mapping or contact fix)."""
        self.check_access("write")  # processing runs as superuser
        self._vpbx_process(commit=False)
        states = dict(self._fields["state"]._description_selection(self.env))
        counts = {}
        for event in self:
            counts[event.state] = counts.get(event.state, 0) + 1
        summary = ", ".join(f"{states[state]}: {count}" for state, count in sorted(counts.items()))
        kind = "warning" if {"failed", "rejected"} & counts.keys() else "success"
        return self.env.company._vpbx_notify(
            self.env._(
                "%(count)s event(s) replayed (%(summary)s).", count=len(self), summary=summary
            ),
            kind,
        )

    @api.model
    def _cron_vpbx_retry_events(self, limit=CRON_BATCH):
        """Process new and failed events again, each at most MAX_EVENT_ATTEMPTS times."""
        cutoff = fields.Datetime.subtract(fields.Datetime.now(), minutes=CRON_DELAY_MINUTES)
        events = self.sudo().search(
            [
                ("state", "in", ("new", "failed")),
                ("attempt_count", "<", MAX_EVENT_ATTEMPTS),
                ("received_at", "<=", cutoff),
            ],
            order="id",
            limit=limit,
        )
        events._vpbx_process(commit=True)
        return len(events)
