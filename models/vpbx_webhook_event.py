"""Every authenticated webhook delivery, stored raw before it is processed.

``_vpbx_receive`` is the whole delivery once the controller has found the account and read the
body: the body is parsed once (body parser, then record mapping, with the account's settings
read once), stored with one INSERT (``rejected`` when it cannot be read) and COMMITTED; then,
by the account's setting, processed at once or left ``new`` for the queue, with the mapped
records kept so that the queue does not parse the body again. A failed event stays visible with
its error and is processed again by the retry cron (with the records mapped on receipt, if any)
or by the replay button, which maps the body anew: a mapping can be fixed and the deliveries
replayed.
"""

import base64
import logging
import random
import time
import traceback

from odoo import api, fields, models
from odoo.tools import config
from odoo.tools.sql import create_index

from ..const import CRON_WEBHOOK_QUEUE, CRON_WEBHOOK_QUEUE_HELPER
from ..services.call_mapping import parse_record, records_from_json, records_to_json
from ..services.errors import PayloadError
from ..services.i18n import _lt
from ..services.transaction import CONCURRENCY_ERRORS, in_new_transaction
from ..services.webhook_body import parse_body

_logger = logging.getLogger(__name__)

#: Concurrency errors in a row after which a batch of the queue is replayed one by one.
BATCH_CONFLICTS = 3
#: Processing runs of one event (the controller's first one included) before the cron gives up.
MAX_EVENT_ATTEMPTS = 5
#: The cron leaves recent events alone: the controller may still be processing them.
CRON_DELAY_MINUTES = 2
CRON_BATCH = 200
MAX_ERROR_LENGTH = 4000
#: Deliveries processed in one transaction by the queue's scheduled action. 100: the ORM
#: inserts new rows 100 per INSERT, and a delivery's share of its batch costs least there
#: (0.45 ms against 0.54 with 50 and 0.48 with 200: bench/RESULTS.md, notes of session 15).
QUEUE_BATCH = 100
#: A run of the queue stops taking new batches after this share of the server's time limit for
#: a scheduled action (real time or CPU, the lower; see queue_time_budget)...
QUEUE_TIME_SHARE = 0.25
#: ...and after this many seconds at most; a run that leaves work triggers the next one.
QUEUE_TIME_LIMIT = 60
#: A worker triggers the queue at most this often (seconds)...
QUEUE_WAKE_INTERVAL = 0.5
#: ...and a run of the queue looks once more this long after finding it empty.
QUEUE_GRACE = 0.6
#: After a batch that was not full, a run waits this long (seconds) before its next claim: the
#: deliveries coming meanwhile make one batch, not several small ones that each pay a batch's
#: own cost (its claim, lookups, statements and commit: about as much as 10 deliveries).
QUEUE_GATHER = 0.1
#: The events the queue takes, and those the retry job takes (partial indexes of both).
QUEUED = "state = 'new'"
RETRIED = "state IN ('new', 'failed')"
#: A batch of the queue: the oldest waiting deliveries no other run holds.
QUEUE_CLAIM = (
    f"SELECT id FROM vpbx_webhook_event WHERE {QUEUED}"  # the partial index's own predicate
    " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED"
)
#: dbname -> time.monotonic() of this worker's last trigger of the queue
_LAST_WAKE = {}


def queue_time_budget():
    """Seconds a run of the queue may take: a share of the lowest time limit the server puts on
    a scheduled action, read from its configuration.

    A cron worker (``--workers``) is killed past ``limit_time_real_cron`` (or, when that is not
    set, ``limit_time_real``) and past ``limit_time_cpu`` of CPU; the threaded server applies the
    real-time limit too. Other jobs share the worker's unit of work, hence only a share.
    """
    real_cron = config.get("limit_time_real_cron") or 0
    real = real_cron if real_cron > 0 else config.get("limit_time_real") or 0
    limits = [limit for limit in (real, config.get("limit_time_cpu") or 0) if limit > 0]
    if not limits:
        return QUEUE_TIME_LIMIT
    return min(QUEUE_TIME_LIMIT, min(limits) * QUEUE_TIME_SHARE)


NOT_UTF8 = _lt("The payload is not valid UTF-8 text")
NO_RECORD = _lt("The payload holds no call record")
HAS_NUL = _lt("The payload contains NUL characters")


def _lossy_text(body):
    """A body that is not UTF-8 (or is cut short) as text PostgreSQL can hold."""
    return body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


class VpbxWebhookEvent(models.Model):
    _name = "vpbx.webhook.event"
    _description = "VPBX Webhook Event"
    _order = "id desc"

    pbx_id = fields.Many2one(
        "vpbx.pbx",
        string="PBX Account",
        required=True,
        readonly=True,
        index=True,
        ondelete="cascade",
    )
    company_id = fields.Many2one(
        "res.company",
        string="Company",
        related="pbx_id.company_id",
        store=True,
        index=True,
        precompute=True,
    )
    received_at = fields.Datetime(
        string="Received", required=True, readonly=True, default=fields.Datetime.now, index=True
    )
    remote_addr = fields.Char(string="Remote Address", readonly=True)
    content_type = fields.Char(string="Content Type", readonly=True)
    body = fields.Text(string="Body", readonly=True)
    # bytes that Body cannot show: it has U+FFFD where they are; replay reads these
    body_raw = fields.Binary(
        string="Body as Received",
        attachment=False,
        readonly=True,
        help="The body byte for byte, kept when it is not UTF-8 text (or has NUL characters):"
        " Body shows it with replacement characters.",
    )
    # the records mapped when the delivery was received, for the queue (records_to_json)
    records = fields.Text(string="Mapped Records", readonly=True, copy=False)
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

    def init(self):
        super().init()
        # The queue claims the oldest new events, the retry job the oldest new or failed ones,
        # both in id order: through the primary key, each claim would walk past every processed
        # event still kept (weeks of them, see retention) before finding one. These hold the
        # waiting events only.
        cr = self.env.cr
        create_index(cr, "vpbx_webhook_event_queue_index", self._table, ["id"], where=QUEUED)
        create_index(cr, "vpbx_webhook_event_retry_index", self._table, ["id"], where=RETRIED)

    @api.depends("received_at")
    def _compute_display_name(self):
        for event in self:
            event.display_name = self.env._("Webhook event #%(id)s", id=event.id or "")

    # ------------------------------------------------------------------ receiving

    @api.model
    def _vpbx_receive(self, pbx, body, content_type, remote_addr, unreadable=None):
        """A delivery to `pbx`'s webhook: parse, store, commit, then process or enqueue.

        Only for the controller (it commits). `unreadable`: the PayloadError of a body the
        sender broke off (HTTP framing); what arrived is stored, rejected. Returns
        ``(event id, state, error)`` as the delivery left them, for the answer (a commit
        empties the cache).
        """
        settings = pbx._vpbx_call_settings()
        if unreadable:
            text, records, error = _lossy_text(body), None, unreadable.render(self.env._)
        else:
            text, records, error = self._vpbx_read(body, content_type, settings)
        vals = {
            "pbx_id": pbx.id,
            "company_id": settings.company_id,
            "content_type": (content_type or "")[:255],
            "remote_addr": remote_addr or False,
            "body": text,
            "body_raw": False if text.encode() == body else base64.b64encode(body),
            "state": "rejected" if error else "new",
            "error": error or False,
            "attempt_count": 1 if error else 0,
            "records": False,
        }
        # a live event (the phone rings) is processed at once: the pop-up does not wait for
        # the queue; final records are queued and stored many at a time
        queued = (
            settings.webhook_queued
            and records is not None
            and all(record.is_final for record in records)
        )
        if queued:
            vals["records"] = records_to_json(records)
        event = self._vpbx_insert(vals)
        # stored: from here on the delivery is never lost
        self.env.cr.commit()  # pylint: disable=invalid-commit
        if error:
            return event.id, "rejected", error
        if queued:
            # answered once stored; the queue's scheduled action stores the calls
            self._vpbx_wake_queue()
            return event.id, "new", False
        if records is None:  # the parser itself broke: processing records the failure
            state, error = event._vpbx_process(commit=True)[event.id]
        else:
            state, error = event._vpbx_process_records(settings, records)
        return event.id, state, error

    @api.model
    def _vpbx_read(self, body, content_type, settings):
        """``(text, records, error)`` of a raw body: the text to store, the mapped CallRecords
        (None when the parser itself broke) and the translated reason it cannot be read."""
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError:
            return _lossy_text(body), None, self._vpbx_text(NOT_UTF8)
        if "\x00" in text:
            # PostgreSQL text cannot hold NUL; no JSON or form body has a raw one
            return text.replace("\x00", "\ufffd"), None, self._vpbx_text(HAS_NUL)
        try:
            return text, self._vpbx_parse(text, content_type, settings), False
        except PayloadError as error:
            return text, None, error.render(self.env._)
        except Exception:  # a fault of ours, not of the body: processing records it
            _logger.exception(
                "VPBX webhook of account %s: the body could not be read", settings.pbx_id
            )
            return text, None, False

    def _vpbx_text(self, reason):
        return PayloadError(reason).render(self.env._)

    @api.model
    def _vpbx_parse(self, text, content_type, settings):
        """CallRecords of a body: the body parser, then the record mapping."""
        items = parse_body(text, content_type)
        if not items:
            raise PayloadError(NO_RECORD)
        return [parse_record(item, settings.mapping) for item in items]

    @api.model
    def _vpbx_insert(self, vals):
        """Store a delivery with one INSERT, not the ORM's create: this runs on every delivery,
        and create's defaults and conversions cost as much as the rest of the answer. The
        values written are put in the record's cache, as create would."""
        self.env.cr.execute(
            """
            INSERT INTO vpbx_webhook_event
                   (pbx_id, company_id, content_type, remote_addr, state, error, attempt_count,
                    body, body_raw, records, received_at, create_uid, write_uid, create_date,
                    write_date)
            VALUES (%(pbx_id)s, %(company_id)s, %(content_type)s, %(remote_addr)s, %(state)s,
                    %(error)s, %(attempt_count)s, %(body)s, %(body_raw)s, %(records)s,
                    now() AT TIME ZONE 'UTC', %(uid)s, %(uid)s,
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

    def _vpbx_records(self, settings, fresh=False):
        """CallRecords of the event: those mapped on receipt (queued), else the body's.
        ``fresh``: map the body again (a replay after the mapping changed)."""
        self.ensure_one()
        if self.records and not fresh:
            return records_from_json(self.records)
        # the raw bytes when Body lost some: U+FFFD would make two call ids one
        body = base64.b64decode(self.body_raw) if self.body_raw else self.body or ""
        return self._vpbx_parse(body, self.content_type, settings)

    def _vpbx_process_one(self, fresh=False):
        """Parse and upsert; sets the state and returns {id: (state, error)}. Raises on a
        processing failure."""
        self.ensure_one()
        settings = self.pbx_id._vpbx_call_settings()
        try:
            records = self._vpbx_records(settings, fresh=fresh)
        except PayloadError as error:
            return self._vpbx_reject(error)
        return self._vpbx_apply(settings, records)

    def _vpbx_apply(self, settings, records):
        """Upsert `records` and record the outcome on the event; returns {id: (state, error)}."""
        self.ensure_one()
        results = []
        self.env["vpbx.call"]._vpbx_upsert_records(settings, records, results=results)
        return self._vpbx_mark_applied([(self, records, results)])

    def _vpbx_apply_batch(self):
        """Process these events (a batch of the queue) in the caller's transaction: the records
        of all of them go through ONE upsert per account (``vpbx.call._vpbx_upsert_records``,
        set-based), their outcomes are written by one statement. A body that cannot be read
        rejects its own event. Returns {id: (state, error)}."""
        pending, settings_of, outcome = {}, {}, {}
        for event in self:
            pbx = event.pbx_id
            if pbx.id not in settings_of:
                settings_of[pbx.id] = pbx._vpbx_call_settings()
            try:
                records = event._vpbx_records(settings_of[pbx.id])
            except PayloadError as error:
                outcome.update(event._vpbx_reject(error))
                continue
            pending.setdefault(pbx.id, []).append((event, records))
        applied = []
        for pbx_id, pairs in pending.items():
            results = []
            self.env["vpbx.call"]._vpbx_upsert_records(
                settings_of[pbx_id],
                [record for _event, records in pairs for record in records],
                results=results,
            )
            start = 0
            for event, records in pairs:
                applied.append((event, records, results[start : start + len(records)]))
                start += len(records)
        outcome.update(self._vpbx_mark_applied(applied))
        return outcome

    def _vpbx_mark_applied(self, applied):
        """Record on each event what its records did: ``applied`` is a list of ``(event,
        records, [(call id, applied, created)])``. One statement for all, not write(): this runs for
        every delivery, and write() of the Many2many reads the relation before linking (an
        event's calls only grow). Returns {id: (state, error)}."""
        if not applied:
            return {}
        ids, states, texts, rel_events, rel_calls = [], [], [], [], []
        for event, records, results in applied:
            ids.append(event.id)
            states.append("processed" if any(done for _call, done, _new in results) else "ignored")
            texts.append(", ".join(dict.fromkeys(r.call_id for r in records))[:255] or None)
            for call_id in dict.fromkeys(call_id for call_id, _done, _new in results):
                rel_events.append(event.id)
                rel_calls.append(call_id)
        events = self.browse(ids)
        events.flush_recordset()
        now = fields.Datetime.now()
        self.env.cr.execute(
            """
            WITH linked AS (
                INSERT INTO vpbx_webhook_event_call_rel (event_id, call_id)
                SELECT * FROM unnest(%(rel_events)s::int[], %(rel_calls)s::int[])
                    ON CONFLICT DO NOTHING
            )
            UPDATE vpbx_webhook_event e
               SET state = v.state, error = NULL, records = NULL, vpbx_call_id = v.call,
                   attempt_count = COALESCE(e.attempt_count, 0) + 1, processed_at = %(now)s,
                   write_uid = %(uid)s, write_date = %(now)s
              FROM unnest(%(ids)s::int[], %(states)s::varchar[], %(texts)s::varchar[])
                   AS v(id, state, call)
             WHERE e.id = v.id
            """,
            {
                "ids": ids,
                "states": states,
                "texts": texts,
                "rel_events": rel_events,
                "rel_calls": rel_calls,
                "now": now,
                "uid": self.env.uid,
            },
        )
        events.invalidate_recordset(
            [
                "state",
                "error",
                "records",
                "call_ids",
                "vpbx_call_id",
                "attempt_count",
                "processed_at",
                "write_uid",
                "write_date",
            ]
        )
        self.env["vpbx.call"].browse(rel_calls).invalidate_recordset(["webhook_event_ids"])
        return {event_id: (state, False) for event_id, state in zip(ids, states, strict=True)}

    def _vpbx_process_records(self, settings, records):
        """The controller's immediate processing of the records it mapped: committed, retried
        on concurrency errors, a failure recorded on the event. Returns (state, error)."""
        self.ensure_one()
        try:
            outcome = in_new_transaction(self.env, lambda: self._vpbx_apply(settings, records))
        except Exception as error:  # any failure is recorded, never raised
            self.env.cr.rollback()
            self.env.invalidate_all()
            outcome = self._vpbx_mark_failed(error)
            self.env.cr.commit()  # pylint: disable=invalid-commit
        return outcome[self.id]

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
            "VPBX webhook event %s of account %s failed: %s",
            self.id,
            self.pbx_id.id,
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

    def _vpbx_process(self, commit=False, fresh=False, states=None):
        """Process the events.

        commit=True (crons, the controller: they own the cursor): each event is processed and
        committed on its own; a concurrency error is retried in a new transaction
        (``services.transaction.in_new_transaction``); any other error rolls back the work,
        marks the event failed and commits that.
        commit=False (buttons): each event in a savepoint of the caller's transaction.
        fresh: map the bodies again instead of using the records mapped on receipt.
        states: claim each event first: skipped unless it is still in one of these states and
        no other run holds it (``FOR UPDATE SKIP LOCKED``): two runs of the queue or of the
        retry job, on one server or two, never process an event twice.

        :return: {event id: (state, error)} as processing left them, for the events processed
            (a commit empties the cache: the controller answers from this instead of reading
            the events again).
        """
        outcome = {}
        for event in self.sudo():
            if commit:
                try:
                    in_new_transaction(
                        self.env,
                        lambda event=event: event._vpbx_claimed(states)
                        and outcome.update(event._vpbx_process_one(fresh)),
                    )
                except Exception as error:  # any failure is recorded, never raised
                    self.env.cr.rollback()
                    self.env.invalidate_all()
                    outcome.update(event._vpbx_mark_failed(error))
                    self.env.cr.commit()  # pylint: disable=invalid-commit
            else:
                try:
                    with self.env.cr.savepoint():
                        outcome.update(event._vpbx_process_one(fresh))
                except Exception as error:
                    outcome.update(event._vpbx_mark_failed(error))
        return outcome

    def _vpbx_claimed(self, states):
        """Lock the event for this transaction; False when another run holds it or it left
        `states` meanwhile (no `states`: always True, nothing locked)."""
        self.ensure_one()
        if not states:
            return True
        self.env.cr.execute(
            "SELECT id FROM vpbx_webhook_event WHERE id = %s AND state = ANY(%s)"
            " FOR UPDATE SKIP LOCKED",
            [self.id, list(states)],
        )
        return bool(self.env.cr.fetchone())

    # ------------------------------------------------------------------ queued deliveries

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
        cron = self.env.ref(CRON_WEBHOOK_QUEUE, raise_if_not_found=False)
        if not cron:
            # deleted: the delivery is stored all the same, the retry job takes it later
            _logger.warning("VPBX: the scheduled action %s is missing", CRON_WEBHOOK_QUEUE)
            return False
        cron.sudo()._trigger()
        return True

    @api.model
    def _cron_vpbx_process_queue(
        self,
        batch=QUEUE_BATCH,
        time_limit=None,
        grace=QUEUE_GRACE,
        helper=CRON_WEBHOOK_QUEUE_HELPER,
        gather=QUEUE_GATHER,
    ):
        """Process the queued deliveries (state new), oldest first, until none is left and,
        `grace` seconds later, still none (deliveries that did not trigger, _vpbx_wake_queue).

        A full batch claimed means a backlog: the run wakes `helper` (an xmlid: the queue's
        second scheduled action, falsy in that one) once, which drains beside it on another
        cron worker. Alone, a run uses one CPU and the backlog drains at its pace after the
        last delivery came.

        After a batch that was not full the run waits `gather` seconds before claiming again:
        while deliveries keep coming, batches fill up instead of taking the two or three
        that came while the previous one was processed.

        A run ends well inside the server's time limit for scheduled actions (`time_limit`,
        default ``queue_time_budget()``): killed, it would roll its batch back and stall the
        queue. With deliveries still waiting it triggers the next run, which starts at once.

        Each batch is claimed with SKIP LOCKED (two runs, on one server or on two, never take
        the same events) and processed in ONE transaction through one set-based upsert
        (``_vpbx_apply_batch``): the per-delivery costs of a transaction and of the lookups
        are shared.
        If anything in a batch fails, the batch is rolled back and its events are processed
        one by one, each in its own transaction, so a failure is recorded on its event only.
        """
        deadline = time.monotonic() + (time_limit or queue_time_budget())
        done = conflicts = 0
        while True:
            if time.monotonic() >= deadline:
                # a backlog: the rest goes to the next run, in a new unit of the cron worker
                cron = self.env.ref(CRON_WEBHOOK_QUEUE, raise_if_not_found=False)
                if cron:
                    cron.sudo()._trigger()
                break
            try:
                self.env.cr.execute(QUEUE_CLAIM, [batch], log_exceptions=False)
            except CONCURRENCY_ERRORS:
                # another run committed one of these rows after this claim's snapshot was
                # taken (REPEATABLE READ): claim again in a new transaction
                self.env.cr.rollback()
                continue
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
                events._vpbx_apply_batch()
                self.env.flush_all()
                self.env.cr.commit()  # pylint: disable=invalid-commit
                done += len(events)
                conflicts = 0
            except Exception as error:  # replayed one by one, where each failure is recorded
                self.env.cr.rollback()
                self.env.invalidate_all()
                if isinstance(error, CONCURRENCY_ERRORS):
                    conflicts += 1
                    if conflicts < BATCH_CONFLICTS:
                        # another run (a cron worker, another server) stored a call of this
                        # batch at that moment: claimed again, the batch now updates that call
                        time.sleep(random.uniform(0.0, 0.05))
                        continue
                conflicts = 0
                # released by the rollback: each is claimed again, another run may have it
                replayed = events.with_context(vpbx_batch_notes=False)._vpbx_process(
                    commit=True, states=("new",)
                )
                done += len(replayed)
                continue
            if len(events) == batch:
                if helper:
                    # after the batch's commit: its claim held the rows until then
                    self._vpbx_wake_helper(helper)
                    helper = False
            elif gather > 0:
                time.sleep(gather)  # outside any transaction: the batch was just committed
        return done

    @api.model
    def _vpbx_wake_helper(self, xmlid):
        """Trigger the scheduled action `xmlid`, committed at once (the next batch may roll
        back). Two runs never take the same delivery: each claims with SKIP LOCKED."""
        cron = self.env.ref(xmlid, raise_if_not_found=False)
        if cron and cron.active:
            cron.sudo()._trigger()
            self.env.cr.commit()  # pylint: disable=invalid-commit

    def action_vpbx_replay(self):
        """Process the selected events again (after a mapping or contact fix)."""
        self.check_access("write")  # processing runs as superuser
        self._vpbx_process(commit=False, fresh=True)
        states = dict(self._fields["state"]._description_selection(self.env))
        counts = {}
        for event in self:
            counts[event.state] = counts.get(event.state, 0) + 1
        summary = ", ".join(f"{states[state]}: {count}" for state, count in sorted(counts.items()))
        kind = "warning" if {"failed", "rejected"} & counts.keys() else "success"
        return self.env["vpbx.pbx"]._vpbx_notify(
            self.env._(
                "%(count)s event(s) replayed (%(summary)s).", count=len(self), summary=summary
            ),
            kind,
        )

    @api.model
    def _vpbx_retry_domain(self):
        """The events the retry job takes: new or failed, tries left, old enough that the
        controller is no longer processing them."""
        cutoff = fields.Datetime.subtract(fields.Datetime.now(), minutes=CRON_DELAY_MINUTES)
        return [
            ("state", "in", ("new", "failed")),
            ("attempt_count", "<", MAX_EVENT_ATTEMPTS),
            ("received_at", "<=", cutoff),
        ]

    @api.model
    def _cron_vpbx_retry_events(self, limit=CRON_BATCH):
        """Process new and failed events again, each at most MAX_EVENT_ATTEMPTS times."""
        events = self.sudo().search(self._vpbx_retry_domain(), order="id", limit=limit)
        return len(events._vpbx_process(commit=True, states=("new", "failed")))
