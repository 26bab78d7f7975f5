"""Queued webhook deliveries: answered once stored, processed by the queue's scheduled action.

The body of a delivery is parsed once, on receipt: the queue stores the records mapped then,
a replay maps the body afresh. Also the per-worker caches the webhook path reads (the account's
call settings, webhook tokens): a change made through the ORM is seen by the next delivery.
"""

import json
import logging
from unittest.mock import patch

from odoo import SUPERUSER_ID, api, fields
from odoo.tests import tagged
from odoo.tools import config

from ..models import vpbx_webhook_event
from ..services.call_mapping import records_from_json
from .common import (
    BASE_TIME,
    EVENT_LOGGER,
    VpbxWebhookCommon,
    call_payload,
    live_payload,
    rows_walked,
)

QUEUE_CRON = "sentech_vpbx.ir_cron_vpbx_process_webhook_queue"
QUEUE_HELPER_CRON = "sentech_vpbx.ir_cron_vpbx_process_webhook_queue_helper"
#: the body parser as the webhook event model calls it
PARSE_BODY = "odoo.addons.sentech_vpbx.models.vpbx_webhook_event.parse_body"
#: what a call keeps of its record: the same in immediate and queued mode
CALL_FIELDS = (
    "direction", "status", "is_final", "customer_number", "customer_number_normalized",
    "hotline", "start_time", "answer_time", "end_time", "duration", "talk_duration",
    "partner_id", "company_id", "pbx_id",
)  # fmt: skip


class _Clock:
    """Stands for the `time` module of the queue: one second passes at each look."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self):
        self.now += 1
        return self.now

    def sleep(self, seconds):
        self.now += seconds


@tagged("post_install", "-at_install")
class TestWebhookQueue(VpbxWebhookCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pbx.webhook_queued = True
        cls.partner = cls.env["res.partner"].create(
            {"name": "Trần Thị Bích", "mobile": "0912 345 678"}
        )
        cls.cron = cls.env.ref(QUEUE_CRON)

    def setUp(self):
        super().setUp()
        # the trigger throttle is per worker process: start each test without one
        vpbx_webhook_event._LAST_WAKE.clear()
        self.env["ir.cron.trigger"].search([("cron_id", "=", self.cron.id)]).unlink()

    def triggers(self):
        return self.env["ir.cron.trigger"].search([("cron_id", "=", self.cron.id)])

    def run_queue(self, **kw):
        # the queue commits: run it on a (test) cursor of its own, as the scheduler would
        self.env.flush_all()
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            done = env["vpbx.webhook.event"]._cron_vpbx_process_queue(grace=0, **kw)
        self.env.invalidate_all()
        return done

    def test_answer_once_stored_then_processed_by_the_queue(self):
        response = self.post(call_payload("Q-1"))
        self.assertEqual(response.status_code, 200)
        answer = response.json()
        self.assertEqual(answer["state"], "new")
        event = self.Event.browse(answer["event_id"])
        self.assertEqual(event.state, "new")
        self.assertIn("Q-1", event.body)
        self.assertFalse(self.calls("Q-1"), "nothing is processed before the answer")
        self.assertEqual(len(self.triggers()), 1, "the delivery woke the queue")

        self.assertEqual(self.run_queue(), 1)
        call = self.calls("Q-1")
        self.assertEqual(event.state, "processed")
        self.assertEqual(event.attempt_count, 1)
        self.assertEqual(event.call_ids, call)
        self.assertEqual(call.partner_id, self.partner)
        self.assertEqual(call.status, "answered")
        self.assertEqual(len(self.notes(self.partner)), 1, "the same follow-up as immediate mode")
        self.assertEqual(self.run_queue(), 0, "an event is processed once")

    def test_new_account_queues_final_records_live_events_at_once(self):
        pbx = self.env["vpbx.pbx"].create({"name": "Default mode", "company_id": self.company.id})
        self.assertTrue(pbx.webhook_queued, "a new account queues its deliveries")
        token = pbx.sudo().webhook_token
        ringing = self.post(live_payload("Q-DEFAULT"), token=token).json()
        self.assertEqual(ringing["state"], "processed", "a ringing phone does not wait")
        self.assertFalse(self.triggers())
        final = self.post(call_payload("Q-DEFAULT"), token=token).json()
        self.assertEqual(final["state"], "new", "a final record is answered once stored")
        self.assertEqual(len(self.triggers()), 1)
        self.assertEqual(self.run_queue(), 1)
        call = self.Call.search([("pbx_id", "=", pbx.id), ("vpbx_call_id", "=", "Q-DEFAULT")])
        self.assertEqual((call.is_final, call.status), (True, "answered"))

    def test_account_warns_of_deliveries_waiting_too_long(self):
        """Scheduled actions that do not run leave deliveries `new`: the account's form says so
        (and lists them) once one has waited longer than a run of the retry job."""
        self.post(call_payload("Q-WAIT"))
        event = self.events().filtered(lambda e: "Q-WAIT" in e.body)
        self.pbx.invalidate_recordset(["waiting_event_count"])
        self.assertEqual(self.pbx.waiting_event_count, 0, "just received")
        event.received_at = fields.Datetime.subtract(fields.Datetime.now(), minutes=10)
        self.pbx.invalidate_recordset(["waiting_event_count"])
        self.assertEqual(self.pbx.waiting_event_count, 1)
        self.assertEqual(self.Event.search(self.pbx.action_open_waiting_events()["domain"]), event)
        self.assertEqual(self.run_queue(), 1)
        self.pbx.invalidate_recordset(["waiting_event_count"])
        self.assertEqual(self.pbx.waiting_event_count, 0)

    def test_unreadable_body_is_rejected_at_once(self):
        response = self.post(raw='{"direction": "inbound"}')
        self.assertEqual(response.status_code, 400)
        event = self.Event.browse(response.json()["event_id"])
        self.assertEqual(event.state, "rejected")
        self.assertTrue(event.error)
        self.assertFalse(self.triggers(), "nothing to queue")

    def test_one_trigger_for_a_burst_one_batch_for_its_events(self):
        ids = [f"Q-B{i}" for i in range(5)]
        for call_id in ids:
            self.assertEqual(self.post(call_payload(call_id)).status_code, 200)
        self.assertEqual(len(self.triggers()), 1, "deliveries within the wake interval share it")
        self.assertEqual(self.run_queue(), 5)
        for call_id in ids:
            self.assertEqual(len(self.calls(call_id)), 1, call_id)

    def test_a_backlog_wakes_the_second_run_once(self):
        """A run that claims a full batch wakes the queue's second scheduled action, once: the
        backlog drains on two cron workers. The second run drains the same way and wakes
        nobody (two runs at once: TestTwoQueueRunnersShareOneQueue)."""
        helper = self.env.ref(QUEUE_HELPER_CRON)
        Trigger = self.env["ir.cron.trigger"]
        Trigger.search([("cron_id", "=", helper.id)]).unlink()
        for index in range(12):
            self.post(call_payload(f"Q-HELP{index}", start=BASE_TIME + index))
        self.assertEqual(self.run_queue(batch=12), 12)
        self.assertEqual(
            Trigger.search_count([("cron_id", "=", helper.id)]), 1, "a full batch: woken"
        )
        Trigger.search([("cron_id", "=", helper.id)]).unlink()
        for index in range(12, 20):
            self.post(call_payload(f"Q-HELP{index}", start=BASE_TIME + index))
        self.assertEqual(self.run_queue(batch=5), 8)
        self.assertEqual(
            Trigger.search_count([("cron_id", "=", helper.id)]), 1, "once per run, not per batch"
        )
        Trigger.search([("cron_id", "=", helper.id)]).unlink()
        self.assertEqual(self.run_queue(batch=12), 0)
        self.assertFalse(Trigger.search([("cron_id", "=", helper.id)]), "nothing waits: alone")

        # the second scheduled action itself: it drains and wakes nobody, even on a full batch
        for index in range(20, 70):
            self.post(call_payload(f"Q-HELP{index}", start=BASE_TIME + index))
        self.env.flush_all()
        with self.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {}).ref(QUEUE_HELPER_CRON).method_direct_trigger()
        self.env.invalidate_all()
        self.assertEqual(self.Call.search_count([("vpbx_call_id", "=like", "Q-HELP%")]), 70)
        self.assertFalse(self.events().filtered(lambda e: e.state == "new"))
        self.assertFalse(Trigger.search([("cron_id", "=", helper.id)]))

    def test_a_batch_not_full_waits_for_the_next_deliveries(self):
        """After a batch that was not full the run waits QUEUE_GATHER before its next claim:
        the deliveries that come meanwhile are one batch, not one each. The queue's clock
        stands for time; its sleep is when they come."""
        Event = type(self.env["vpbx.webhook.event"])
        apply_batch = Event._vpbx_apply_batch
        batches = []

        def counted_apply_batch(events):
            batches.append(len(events))
            return apply_batch(events)

        self.post(call_payload("Q-GATHER0"))
        self.env.flush_all()
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            arrivals = iter([[f"Q-GATHER{index}" for index in range(1, 4)]])

            class Clock(_Clock):
                def sleep(clock, seconds):
                    super().sleep(seconds)
                    if seconds != vpbx_webhook_event.QUEUE_GATHER:
                        return
                    for call_id in next(arrivals, []):
                        env["vpbx.webhook.event"]._vpbx_receive(
                            env["vpbx.pbx"].browse(self.pbx.id),
                            json.dumps(call_payload(call_id)).encode(),
                            "application/json",
                            "127.0.0.1",
                        )

            with (
                patch.object(Event, "_vpbx_apply_batch", counted_apply_batch),
                patch.object(vpbx_webhook_event, "time", Clock()),
            ):
                done = env["vpbx.webhook.event"]._cron_vpbx_process_queue(grace=0, helper=False)
        self.env.invalidate_all()
        self.assertEqual(done, 4)
        self.assertEqual(batches, [1, 3], "what came during the wait: one batch")
        self.assertEqual(self.Call.search_count([("vpbx_call_id", "=like", "Q-GATHER%")]), 4)

    def test_live_events_at_once_final_record_queued(self):
        self.post(live_payload("Q-LIVE"))
        self.post(call_payload("Q-LIVE"))
        # processed before the final record it follows is stored: it must not undo the end
        self.post(live_payload("Q-LIVE", state="answered"))
        self.assertEqual(self.run_queue(), 1, "only the final record waited for the queue")
        call = self.calls("Q-LIVE")
        self.assertEqual(len(call), 1)
        self.assertTrue(call.is_final)
        self.assertEqual(call.status, "answered")
        self.assertEqual(len(self.notes(self.partner)), 1)

    def test_failure_in_a_batch_is_kept_on_its_event(self):
        for call_id in ("Q-OK1", "Q-BAD", "Q-OK2"):
            self.post(call_payload(call_id))
        Call = type(self.env["vpbx.call"])
        upsert = Call._vpbx_upsert_records

        def failing(self, settings, records, **kwargs):
            if any(record.call_id == "Q-BAD" for record in records):
                raise RuntimeError("the PBX sent something we cannot store")
            return upsert(self, settings, records, **kwargs)

        with (
            patch.object(Call, "_vpbx_upsert_records", failing),
            self.assertLogs(EVENT_LOGGER, logging.WARNING),
        ):
            self.assertEqual(self.run_queue(), 3)
        states = {
            call_id: self.events().filtered(lambda e, c=call_id: c in e.body).state
            for call_id in ("Q-OK1", "Q-BAD", "Q-OK2")
        }
        self.assertEqual(states, {"Q-OK1": "processed", "Q-BAD": "failed", "Q-OK2": "processed"})
        self.assertEqual(len(self.calls("Q-OK1") | self.calls("Q-OK2")), 2)
        self.assertFalse(self.calls("Q-BAD"), "the failed event's work was rolled back")
        # the batch was rolled back and replayed one by one: each event counted once
        self.assertEqual(set(self.events().mapped("attempt_count")), {1})

    def count_parses(self):
        """The body parser of the webhook event model, wrapped to count its calls."""
        return patch(PARSE_BODY, wraps=vpbx_webhook_event.parse_body)

    def test_body_parsed_once_on_receipt(self):
        with self.count_parses() as parse:
            response = self.post(call_payload("Q-ONCE"))
            self.assertEqual(response.status_code, 200)
            self.assertEqual(parse.call_count, 1, "the webhook parsed the body")
            event = self.Event.browse(response.json()["event_id"])
            self.assertEqual(event.state, "new")
            (record,) = records_from_json(event.records)
            self.assertEqual(
                (record.call_id, record.status, record.customer_number),
                ("Q-ONCE", "answered", "0912345678"),
            )
            self.assertEqual(self.run_queue(), 1)
            self.assertEqual(parse.call_count, 1, "the queue did not parse the body again")
        call = self.calls("Q-ONCE")
        self.assertEqual(event.state, "processed", event.error)
        self.assertEqual(event.call_ids, call)
        self.assertEqual(event.vpbx_call_id, "Q-ONCE")
        self.assertEqual(call.partner_id, self.partner)
        self.assertFalse(event.records, "stored: the mapped records are not kept")

    def test_queue_stores_the_records_mapped_on_receipt(self):
        event = self.Event.browse(self.post(call_payload("Q-REC")).json()["event_id"])
        self.assertTrue(event.records)
        # the stored body can no longer be read: only the mapped records can give the call
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE vpbx_webhook_event SET body = %s WHERE id = %s", ['{"broken', event.id]
        )
        self.env.invalidate_all()
        self.assertEqual(self.run_queue(), 1)
        self.assertEqual(event.state, "processed", event.error)
        call = self.calls("Q-REC")
        self.assertEqual(event.call_ids, call)
        self.assertEqual(call.partner_id, self.partner)
        self.assertEqual(call.status, "answered")
        self.assertEqual(call.recording_url, "https://rec.example.com/Q-REC.mp3")

    def test_queued_event_without_records_reads_its_body(self):
        """A queued event holding no mapped records (queued before the records were kept)."""
        event = self.Event.browse(self.post(call_payload("Q-OLD")).json()["event_id"])
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE vpbx_webhook_event SET records = NULL WHERE id = %s", [event.id]
        )
        self.env.invalidate_all()
        with self.count_parses() as parse:
            self.assertEqual(self.run_queue(), 1)
        self.assertEqual(parse.call_count, 1)
        self.assertEqual(event.state, "processed", event.error)
        self.assertEqual(event.call_ids, self.calls("Q-OLD"))

    def test_replay_maps_the_body_afresh(self):
        events = self.Event
        for call_id in ("Q-RPL", "Q-KEEP"):
            response = self.post(call_payload(call_id, disposition="voicemail"))
            events |= self.Event.browse(response.json()["event_id"])
        replayed, queued = events
        (record,) = records_from_json(replayed.records)
        self.assertEqual(record.status, "answered", "mapped on receipt: talk time, answered")
        # the mapping is fixed, then the first delivery is replayed before the queue runs
        self.pbx.missed_dispositions = "voicemail"
        with self.count_parses() as parse:
            replayed.action_vpbx_replay()
        self.assertEqual(parse.call_count, 1, "the replay read the body again")
        self.assertEqual(replayed.state, "processed", replayed.error)
        self.assertFalse(replayed.records)
        self.assertEqual(self.calls("Q-RPL").status, "missed", "the new mapping")
        with self.count_parses() as parse:
            self.assertEqual(self.run_queue(), 1, "replayed: only the other delivery is left")
        self.assertEqual(parse.call_count, 0)
        self.assertEqual(queued.state, "processed", queued.error)
        self.assertEqual(self.calls("Q-KEEP").status, "answered", "mapped on receipt")

    def test_queued_call_equals_immediate_call(self):
        fields = {"time_answer_start": BASE_TIME + 5}
        self.post(call_payload("Q-SAME-Q", **fields))
        self.assertEqual(self.run_queue(), 1)
        self.pbx.webhook_queued = False
        self.post(call_payload("Q-SAME-I", **fields))
        queued, immediate = self.calls("Q-SAME-Q"), self.calls("Q-SAME-I")
        self.assertTrue(queued.answer_time)
        for fname in CALL_FIELDS:
            self.assertEqual(queued[fname], immediate[fname], fname)
        self.assertEqual(
            queued.recording_url.replace("Q-SAME-Q", "Q-SAME-I"), immediate.recording_url
        )

    def test_run_budget_is_read_from_the_server_limits(self):
        budget = vpbx_webhook_event.queue_time_budget
        limits = {"limit_time_real": 120, "limit_time_real_cron": -1, "limit_time_cpu": 60}
        with patch.dict(config.options, limits):
            self.assertEqual(budget(), 15, "a quarter of Odoo's default CPU limit")
        with patch.dict(config.options, dict(limits, limit_time_real_cron=20)):
            self.assertEqual(budget(), 5, "the cron's own real-time limit")
        with patch.dict(config.options, dict(limits, limit_time_real_cron=0, limit_time_real=8)):
            self.assertEqual(budget(), 2)
        with patch.dict(
            config.options, {"limit_time_real": 0, "limit_time_real_cron": 0, "limit_time_cpu": 0}
        ):
            self.assertEqual(budget(), vpbx_webhook_event.QUEUE_TIME_LIMIT, "no limit: a cap")

    def test_backlog_drains_in_runs_that_end_inside_the_limit(self):
        """A backlog bigger than a run may take: each run stops taking batches at its budget
        and triggers the next run; nothing is lost or done twice. The queue reads a clock that
        moves one second per look, so that the test does not depend on the machine's speed."""
        total, batch = 40, 5
        for index in range(total):
            self.post(call_payload(f"Q-LOG{index}", start=BASE_TIME + index))
        # scheduled actions may last 12 s on this server: a run may take 3 s, i.e. two batches
        limits = {"limit_time_real": 12, "limit_time_real_cron": -1, "limit_time_cpu": 60}
        runs, done = [], 0
        with patch.dict(config.options, limits), patch.object(vpbx_webhook_event, "time", _Clock()):
            while done < total and len(runs) < total:
                self.triggers().unlink()
                count = self.run_queue(batch=batch)
                runs.append((count, bool(self.triggers())))
                done += count
        self.assertEqual(done, total, runs)
        self.assertEqual(len(runs), total // (2 * batch), runs)
        self.assertTrue(all(count == 2 * batch and triggered for count, triggered in runs), runs)
        stored = self.Call.search_count([("vpbx_call_id", "=like", "Q-LOG%")])
        self.assertEqual(stored, total)
        self.assertEqual(set(self.events().mapped("state")), {"processed"})

    def test_claims_do_not_walk_past_processed_events(self):
        """The queue's claim and the retry job read the waiting events only, however many
        processed ones are kept (retention keeps weeks of them), even when the statistics
        were taken during a backlog (the planner then expects a waiting event every few rows
        of the primary key)."""
        self.env.cr.execute(
            """
            INSERT INTO vpbx_webhook_event (pbx_id, state, received_at, attempt_count)
            SELECT %(pbx)s, CASE WHEN n > 3000 THEN 'new' ELSE 'processed' END,
                   now() AT TIME ZONE 'UTC' - interval '1 hour', 0
              FROM generate_series(1, 3300) AS n
            """,
            {"pbx": self.pbx.id},
        )
        self.env.cr.execute("ANALYZE vpbx_webhook_event")

        cr = self.env.cr
        self.assertLess(rows_walked(cr, vpbx_webhook_event.QUEUE_CLAIM, [50]), 100)
        query = self.Event._search(self.Event._vpbx_retry_domain(), order="id", limit=200)
        sql = query.select()
        self.assertLess(rows_walked(cr, sql.code, sql.params), 100)

    def test_immediate_mode_is_unchanged(self):
        self.pbx.webhook_queued = False
        response = self.post(call_payload("Q-NOW"))
        self.assertEqual(response.json()["state"], "processed")
        self.assertTrue(self.calls("Q-NOW"))
        self.assertFalse(self.triggers())
        event = self.Event.browse(response.json()["event_id"])
        self.assertFalse(event.records, "processed at once: no mapped records kept")


@tagged("post_install", "-at_install")
class TestWebhookCaches(VpbxWebhookCommon):
    """The settings a delivery reads are cached per worker; ORM writes empty the cache."""

    def test_mapping_change_is_seen_by_the_next_delivery(self):
        self.assertEqual(self.post(call_payload("C-1", disposition="voicemail")).status_code, 200)
        self.assertEqual(self.calls("C-1").status, "answered", "talk time: answered")
        self.pbx.missed_dispositions = "voicemail"
        self.post(call_payload("C-2", disposition="voicemail"))
        self.assertEqual(self.calls("C-2").status, "missed")

    def test_country_of_the_company_partner_gives_the_region(self):
        self.assertEqual(self.pbx._vpbx_call_settings().region, "VN")
        self.company.partner_id.country_id = self.env.ref("base.th")
        self.assertEqual(self.pbx._vpbx_call_settings().region, "TH")
        self.company.country_id = self.env.ref("base.vn")
        self.assertEqual(self.pbx._vpbx_call_settings().region, "VN")

    def test_new_token_replaces_the_old_one_at_once(self):
        old = self.token
        self.assertEqual(self.post(call_payload("C-T1")).status_code, 200)
        self.pbx.sudo().webhook_token = "a-new-secret-of-this-account"
        self.assertEqual(self.post(call_payload("C-T2"), token=old).status_code, 403)
        response = self.post(call_payload("C-T3"), token="a-new-secret-of-this-account")
        self.assertEqual(response.status_code, 200)
