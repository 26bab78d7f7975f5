"""The daily purge: raw webhook events, and calls when an account keeps them for a time only.

Each account says how long it keeps them (``vpbx.pbx.retention_event_days``, default 30;
``retention_call_days``, default 0: for ever). The purge removes old rows in batches, each in a
short transaction of its own, and never waits for a row: the batch is chosen with
``FOR UPDATE SKIP LOCKED``, so a row a delivery or a replay holds is left for the next run; it
rests after each batch as long as the batch took, so the webhook keeps its pace while a million
rows go. A run stops after its time budget and triggers the next one. Only done-with events go
(``services.retention``): never a ``new`` one waiting for the queue or a ``failed`` one waiting
for a replay.

What it removed is logged, and kept on the account (``retention_last_*``, written by SQL so
that no cache of the webhook path is cleared and an administrator's save never waits).
"""

import logging
import time

from odoo import api, fields, models

from ..const import CRON_PURGE
from ..services.retention import (
    CALL_BATCH,
    EVENT_BATCH,
    PURGEABLE_EVENT_STATES,
    RECORDING_BATCH,
    Budget,
    cutoff,
    pause_after,
)
from .vpbx_webhook_event import queue_time_budget

_logger = logging.getLogger(__name__)


class VpbxRetention(models.AbstractModel):
    _name = "vpbx.retention"
    _description = "VPBX Retention"

    @api.model
    def _cron_vpbx_purge(self, event_batch=EVENT_BATCH, call_batch=CALL_BATCH, time_limit=None):
        """Purge every account (archived ones too); COMMITS after each batch.

        :param time_limit: seconds for this run (default: the share of the server's time limit
            for scheduled actions that the webhook queue uses too); what is left goes to the
            next run, triggered at once.
        :return: ``{pbx_id: (events removed, calls removed)}`` for this run
        """
        budget = Budget(queue_time_budget() if time_limit is None else time_limit)
        now = fields.Datetime.now()
        accounts = self.env["vpbx.pbx"].sudo().with_context(active_test=False).search([])
        removed, complete = {}, True
        for index, pbx in enumerate(accounts):
            events, done = self._vpbx_purge_events(pbx, now, event_batch, budget)
            calls = recordings = 0
            if done:
                recordings = self._vpbx_purge_recordings(pbx, now)
                calls, done = self._vpbx_purge_calls(pbx, now, call_batch, budget)
            self._vpbx_record_purge(pbx, now, events, calls, done, recordings)
            removed[pbx.id] = (events, calls)
            if not done or (budget.spent() and index + 1 < len(accounts)):
                # the next run starts over, quickly past the accounts already done
                complete = False
                break
        if not complete:
            cron = self.env.ref(CRON_PURGE, raise_if_not_found=False)
            if cron:
                cron.sudo()._trigger()
        return removed

    @api.model
    def _vpbx_purge_events(self, pbx, now, batch, budget):
        """``(removed, done)``: the account's done-with events older than its window."""
        before = cutoff(now, pbx.retention_event_days)
        if before is None:
            return 0, True
        removed = 0
        while True:  # one batch at least: every run moves on
            started = time.monotonic()
            # ARRAY(): the batch is chosen once. As `id IN (SELECT … LIMIT)`, a plan that
            # scans the sub-select again per row would lock the next rows each time, past the
            # rows this statement deleted, and remove far more than a batch
            self.env.cr.execute(
                """
                DELETE FROM vpbx_webhook_event WHERE id = ANY(ARRAY(
                    SELECT id FROM vpbx_webhook_event
                     WHERE pbx_id = %s AND state = ANY(%s) AND received_at < %s
                     LIMIT %s FOR UPDATE SKIP LOCKED))
                """,
                [pbx.id, list(PURGEABLE_EVENT_STATES), before, batch],
            )
            count = self.env.cr.rowcount
            self.env.cr.commit()  # pylint: disable=invalid-commit
            removed += count
            done = count < batch
            if done or budget.spent():
                self.env["vpbx.webhook.event"].invalidate_model()
                return removed, done
            time.sleep(pause_after(time.monotonic() - started))

    @api.model
    def _vpbx_purge_calls(self, pbx, now, batch, budget):
        """``(removed, done)``: the account's calls started before its window, through the ORM
        (their messages, followers and activities go too; the contact's chatter note stays)."""
        before = cutoff(now, pbx.retention_call_days)
        if before is None:
            return 0, True
        Call = self.env["vpbx.call"].sudo()
        removed = 0
        while True:
            started = time.monotonic()
            self.env.cr.execute(
                """
                SELECT id FROM vpbx_call
                 WHERE pbx_id = %(pbx)s
                   AND (start_time < %(before)s
                        OR (start_time IS NULL AND create_date < %(before)s))
                 LIMIT %(batch)s FOR UPDATE SKIP LOCKED
                """,
                {"pbx": pbx.id, "before": before, "batch": batch},
            )
            ids = [row[0] for row in self.env.cr.fetchall()]
            if ids:
                Call.browse(ids).unlink()
                self.env.flush_all()
            self.env.cr.commit()  # pylint: disable=invalid-commit
            removed += len(ids)
            done = len(ids) < batch
            if done or budget.spent():
                return removed, done
            time.sleep(pause_after(time.monotonic() - started))

    @api.model
    def _vpbx_purge_recordings(self, pbx, now, batch=RECORDING_BATCH):
        """Archived recordings older than the account keeps them: the audio goes (the row
        stays, "purged", and the player goes back to the PBX's link). Returns the count."""
        before = cutoff(now, pbx.recording_keep_days)
        if before is None:
            return 0
        Recording = self.env["vpbx.recording"].sudo()
        removed = 0
        while True:
            rows = Recording.search(
                [("pbx_id", "=", pbx.id), ("state", "=", "archived"), ("archived_at", "<", before)],
                limit=batch,
            )
            rows.attachment_id.unlink()
            rows.write({"state": "purged", "size": 0})
            self.env.flush_all()
            self.env.cr.commit()  # pylint: disable=invalid-commit
            removed += len(rows)
            if len(rows) < batch:
                return removed

    @api.model
    def _vpbx_record_purge(self, pbx, now, events, calls, done, recordings=0):
        """Log and keep on the account what the purge removed. A run cut short by its budget
        is continued by the next one: their counts add up until the purge is done."""
        _logger.info(
            "VPBX retention: account %s: %s webhook event(s), %s call(s) and %s archived"
            " recording(s) removed%s",
            pbx.id,
            events,
            calls,
            recordings,
            "" if done else " (to be continued)",
        )
        self.env.cr.execute(
            """
            UPDATE vpbx_pbx
               SET retention_last_events = CASE WHEN retention_last_complete IS FALSE
                                                THEN COALESCE(retention_last_events, 0) + %(events)s
                                                ELSE %(events)s END,
                   retention_last_calls = CASE WHEN retention_last_complete IS FALSE
                                               THEN COALESCE(retention_last_calls, 0) + %(calls)s
                                               ELSE %(calls)s END,
                   retention_last_recordings = CASE WHEN retention_last_complete IS FALSE
                                THEN COALESCE(retention_last_recordings, 0) + %(recordings)s
                                ELSE %(recordings)s END,
                   retention_last_run = %(now)s,
                   retention_last_complete = %(done)s
             WHERE id = %(pbx)s
            """,
            {
                "events": events,
                "calls": calls,
                "recordings": recordings,
                "now": now,
                "done": done,
                "pbx": pbx.id,
            },
        )
        self.env.cr.commit()  # pylint: disable=invalid-commit
        pbx.invalidate_recordset(
            [
                "retention_last_events",
                "retention_last_calls",
                "retention_last_recordings",
                "retention_last_run",
                "retention_last_complete",
            ]
        )
