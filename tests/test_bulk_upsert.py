"""The set-based upsert (a queue batch, a history page) against one record at a time: the same
calls, links, notes, activities and leads on one generated set; and two queue runs on two
database connections sharing one queue."""

import json
import random
import re
import threading
from unittest.mock import patch

from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from ..services.call_mapping import parse_record
from .common import (
    BASE_TIME,
    ConcurrentWebhookCase,
    VpbxWebhookCommon,
    at_once,
    call_payload,
    live_payload,
    real_env,
    statements,
)

#: how the same numbers are written by the PBX and in contacts
FORMATS = (
    lambda n: "0" + n,
    lambda n: "+84" + n,
    lambda n: "84" + n,
    lambda n: f"0{n[:3]} {n[3:6]} {n[6:]}",
)


def _page(settings, prefix, size, first_digits, **fields):
    """`size` final records of new calls, numbers starting with `first_digits` in mixed forms."""
    return [
        parse_record(
            call_payload(
                f"{prefix}-{i}", FORMATS[i % 4](f"{first_digits}{i:05d}"), start=BASE_TIME, **fields
            ),
            settings.mapping,
        )
        for i in range(size)
    ]


def _records(settings, seed=5, calls=40):
    """A generated delivery sequence: final records and live events interleaved, duplicates,
    numbers in mixed forms (known, shared by two contacts, carried by a lead, unknown), answered
    and missed, two extensions; a live event after its final record."""
    rng = random.Random(seed)
    numbers = ["912000001", "912000002", "912000003", "977000100", "977000200", "977000300"]
    payloads = []
    for index in range(calls):
        call_id = f"BULK-{index:03d}"
        number = rng.choice(FORMATS)(rng.choice(numbers))
        start = BASE_TIME + index * 300
        fields = {
            "start": start,
            "sip_user": rng.choice(("9101", "9102", "9199")),
            "missed": rng.random() < 0.4,
            "direction": rng.choice(("inbound", "inbound", "outbound")),
        }
        kind = rng.random()
        if kind < 0.3:
            # ringing, then the final record, sometimes a late answered event after it
            payloads.append(live_payload(call_id, number, time_start_call=start))
            payloads.append(call_payload(call_id, number, **fields))
            if rng.random() < 0.5:
                payloads.append(
                    live_payload(call_id, number, state="answered", time_start_call=start)
                )
        else:
            payloads.append(call_payload(call_id, number, **fields))
            if kind > 0.85:
                payloads.append(call_payload(call_id, number, **fields))  # delivered twice
    # deliveries of different calls overtake each other
    for index in range(0, len(payloads) - 1, 7):
        payloads[index], payloads[index + 1] = payloads[index + 1], payloads[index]
    return [parse_record(payload, settings.mapping) for payload in payloads]


@tagged("post_install", "-at_install")
class TestBulkUpsertEqualsOneByOne(VpbxWebhookCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        groups = "base.group_user,sales_team.group_sale_salesman"
        cls.agent = new_test_user(cls.env, login="vpbx_bulk_agent", groups=groups)
        cls.other = new_test_user(cls.env, login="vpbx_bulk_other", groups=groups)
        cls.late = new_test_user(cls.env, login="vpbx_bulk_late", groups=groups)
        cls.env["hr.employee"].create(
            [
                {"name": "Bulk agent", "vpbx_extension": "9101", "user_id": cls.agent.id},
                {"name": "Bulk other", "vpbx_extension": "9102", "user_id": cls.other.id},
            ]
        )
        Partner = cls.env["res.partner"]
        cls.known = Partner.create({"name": "Bulk known", "mobile": "0912 000 001"})
        # one number, two contacts: an ambiguous caller
        cls.twins = Partner.create(
            [
                {"name": "Bulk twin A", "phone": "+84912000002"},
                {"name": "Bulk twin B", "mobile": "0912000002"},
            ]
        )
        cls.company_partner = Partner.create(
            {"name": "Bulk company", "is_company": True, "phone": "0912000003"}
        )
        cls.opportunity = cls.env["crm.lead"].create(
            {
                "name": "Bulk opportunity",
                "type": "opportunity",
                "partner_id": cls.company_partner.id,
                "user_id": cls.other.id,
            }
        )
        cls.lead = cls.env["crm.lead"].create(
            {"name": "Bulk lead", "type": "lead", "phone": "0977 000 100"}
        )
        cls.pbx.write({"lead_creation": "missed", "missed_call_user_id": cls.agent.id})

    def snapshot(self):
        """What the calls of the set left, with no database id that differs between runs."""
        self.env.flush_all()
        self.env.invalidate_all()
        calls = self.Call.search([("pbx_id", "=", self.pbx.id)], order="vpbx_call_id")

        def lead_key(lead):
            return (lead.name, lead.phone, lead.user_id.id, lead.type) if lead else False

        def target(model, res_id):
            record = self.env[model].browse(res_id)
            if model == "crm.lead":
                return str(lead_key(record))
            return record.vpbx_call_id if model == "vpbx.call" else str(res_id)

        rows = []
        for call in calls:
            rows.append(
                {
                    "call": call.vpbx_call_id,
                    "status": call.status,
                    "final": call.is_final,
                    "direction": call.direction,
                    "number": call.customer_number_normalized,
                    "answer": str(call.answer_time),
                    "partner": call.partner_id.id,
                    "ambiguous": call.is_ambiguous,
                    "candidates": sorted(call.candidate_partner_ids.ids),
                    "employee": call.employee_id.name or False,  # one made in the run
                    "user": call.user_id.id,
                    "lead": lead_key(call.lead_id),
                    "candidate_leads": sorted(map(str, map(lead_key, call.candidate_lead_ids))),
                    "stage": call.vpbx_live_stage,
                    "callback": (call.callback_state, call.callback_call_id.vpbx_call_id),
                    "activity": bool(call.callback_activity_id),
                }
            )
        note = self.env.ref("mail.mt_note")
        messages = self.env["mail.message"].search(
            [("body", "ilike", "duration"), ("subtype_id", "=", note.id)]
        )
        notes = sorted(
            (
                message.model,
                target(message.model, message.res_id),
                # the player's link names the call by its database id
                re.sub(r"/vpbx/call/\d+/", "/vpbx/call/N/", str(message.body)),
            )
            for message in messages
            if message.model in ("res.partner", "crm.lead")
        )
        activities = sorted(
            (
                activity.res_model,
                target(activity.res_model, activity.res_id),
                activity.summary or "",
                str(activity.note),
                activity.user_id.id,
                str(activity.date_deadline),
            )
            for activity in self.env["mail.activity"].search([("summary", "ilike", "Call back")])
        )
        leads = sorted(
            str(lead_key(lead))
            for lead in self.env["crm.lead"].search([("name", "ilike", "Call from")])
        )
        # the rows that keep one activity per number and day, with their missed calls
        callbacks = sorted(
            (row.number, str(row.day), row.missed_count, bool(row.activity_id))
            for row in self.env["vpbx.callback"].search([("pbx_id", "=", self.pbx.id)])
        )
        return rows, notes, activities + callbacks, leads

    def run_set(self, bulk, again=False):
        """The set's records one at a time or in one batch. `again`: the set was stored once
        already (in one batch), and extension 9199 has got an employee since."""
        settings = self.pbx._vpbx_call_settings()
        records = _records(settings)
        with self.env.cr.savepoint() as savepoint:
            if again:
                self.Call._vpbx_upsert_records(settings, records)
                self.env["hr.employee"].create(
                    {"name": "Bulk late", "vpbx_extension": "9199", "user_id": self.late.id}
                )
            if bulk:
                self.Call._vpbx_upsert_records(settings, records)
            else:
                for record in records:
                    self.Call._vpbx_upsert_records(settings, [record])
            result = self.snapshot()
            savepoint.rollback()
        self.env.invalidate_all()
        return result, len(records)

    def test_same_calls_links_notes_activities_and_leads(self):
        one, count = self.run_set(bulk=False)
        bulk, _count = self.run_set(bulk=True)
        one_rows, one_notes, one_acts, one_leads = one
        # the set exercises what it claims to
        self.assertGreater(count, len(one_rows), "records of one call arrive several times")
        self.assertTrue(any(row["ambiguous"] for row in one_rows))
        self.assertTrue(any(not row["partner"] and not row["lead"] for row in one_rows))
        self.assertTrue(any(row["lead"] and row["lead"][0] == "Bulk lead" for row in one_rows))
        self.assertTrue(any(row["lead"] and row["lead"][0].startswith("Call") for row in one_rows))
        self.assertTrue(one_notes and one_acts and one_leads)
        self.assertTrue(any(row["stage"] for row in one_rows), "live calls among them")
        self.assertSameSnapshot(bulk, one)

    def assertSameSnapshot(self, bulk, one):
        (bulk_rows, *bulk_rest), (one_rows, *one_rest) = bulk, one
        for one_row, bulk_row in zip(one_rows, bulk_rows, strict=True):
            self.assertEqual(bulk_row, one_row, one_row["call"])
        self.assertEqual(bulk_rest, one_rest)

    def test_same_result_when_read_again(self):
        """Records of stored calls (a history sync reads its overlap window again) link, write
        and follow up in a batch as one at a time: here an employee got the extension 9199 of
        unlinked calls in between."""
        one, _count = self.run_set(bulk=False, again=True)
        bulk, _count = self.run_set(bulk=True, again=True)
        self.assertTrue(any(row["user"] == self.late.id for row in one[0]), "9199 linked later")
        self.assertSameSnapshot(bulk, one)

    def test_activities_of_a_batch_in_one_insert(self):
        """The batch's missed-call activities (and their followers) are created together."""
        settings = self.pbx._vpbx_call_settings()
        with statements('INSERT INTO "mail_activity"') as inserts:
            calls = self.Call._vpbx_upsert_records(settings, _records(settings))
        activities = calls.callback_activity_id
        self.assertGreater(len(activities), 2)
        self.assertEqual(len(inserts), 1)
        # each row of the day counts its missed calls, as one at a time would
        for row in self.env["vpbx.callback"].search([("pbx_id", "=", self.pbx.id)]):
            missed = calls.filtered(
                lambda call, row=row: call.callback_activity_id == row.activity_id
            )
            self.assertEqual(row.missed_count, len(missed))

    def test_read_again_keeps_the_time_to_call_back_without_its_statement(self):
        """Records read again that change nothing (a history sync's overlap, re-deliveries)
        change no call's time to call back: the statement that links them is not even run."""
        settings = self.pbx._vpbx_call_settings()
        records = _records(settings)
        calls = self.Call._vpbx_upsert_records(settings, records)
        self.env.flush_all()

        def links():
            self.env.invalidate_all()
            return {call.id: (call.callback_state, call.callback_call_id.id) for call in calls}

        before = links()
        self.assertIn("done", {state for state, _call in before.values()})
        with statements("WITH waiting AS") as statements_run:
            self.Call._vpbx_upsert_records(settings, records)
        self.assertEqual(statements_run, [])
        self.assertEqual(links(), before)

    def test_notes_of_a_batch_in_one_insert(self):
        """The batch's chatter notes (a history page's) are written together, by one INSERT at
        its end, each on the contact or the lead of a call of the batch."""
        settings = self.pbx._vpbx_call_settings()
        last = self.env["mail.message"].search([], order="id desc", limit=1).id
        with statements("INSERT INTO mail_message (model") as inserts:
            calls = self.Call._vpbx_upsert_records(settings, _records(settings))
        self.assertEqual(len(inserts), 1)
        note = self.env.ref("mail.mt_note")
        notes = self.env["mail.message"].search(
            [("id", ">", last), ("body", "ilike", "duration"), ("subtype_id", "=", note.id)]
        )
        self.assertGreater(len(notes), 2)
        targets = {("res.partner", partner.id) for partner in calls.partner_id}
        targets |= {("crm.lead", lead.id) for lead in calls.lead_id}
        # leads made for unknown callers during the batch take their calls' notes too
        targets |= {("crm.lead", lead.id) for lead in self.env["crm.lead"].search([])}
        for message in notes:
            self.assertIn((message.model, message.res_id), targets)

    def test_one_lookup_for_a_batch(self):
        """A batch of new calls costs a fixed number of lookups, not a few per record."""
        settings = self.pbx._vpbx_call_settings()
        Call = self.Call.with_context(vpbx_no_followup=True)
        small = _page(settings, "Q10", 10, "9770")
        self.env.flush_all()
        with self.assertQueryCount(__system__=self._queries_for(Call, settings, small)):
            Call._vpbx_upsert_records(settings, _page(settings, "Q40", 40, "9770"))
            self.env.flush_all()

    def test_one_lookup_for_a_batch_read_again(self):
        """A batch of calls stored already (a history sync's overlap) costs a fixed number of
        queries, not a read and three lookups per record: unknown numbers, an extension nobody
        has, no lead, all looked up again for every call at once."""
        settings = self.pbx._vpbx_call_settings()
        Call = self.Call.with_context(vpbx_no_followup=True)
        small = _page(settings, "A10", 10, "9780", sip_user="9199")
        large = _page(settings, "A40", 40, "9780", sip_user="9199")
        Call._vpbx_upsert_records(settings, small)
        Call._vpbx_upsert_records(settings, large)
        self.env.flush_all()
        self.env.invalidate_all()
        expected = self._queries_for(Call, settings, small)
        self.env.invalidate_all()
        with (
            self.assertQueryCount(__system__=expected),
            statements('UPDATE "vpbx_call"') as updates,
        ):
            Call._vpbx_upsert_records(settings, large)
            self.env.flush_all()
        self.assertEqual(updates, [], "records that change nothing write nothing")

    def _queries_for(self, Call, settings, records):
        """Queries of an upsert of `records` (the same shape at another size)."""
        self.env.flush_all()
        before = self.cr.sql_log_count
        Call._vpbx_upsert_records(settings, records)
        self.env.flush_all()
        return self.cr.sql_log_count - before


@tagged("post_install", "-at_install")
class TestTwoQueueRunnersShareOneQueue(ConcurrentWebhookCase):
    """Two runs of the queue (two cron workers, or two Odoo servers on one database) claim
    batches with SKIP LOCKED: every event processed once, every call stored once."""

    EVENTS = 120

    @classmethod
    def _vpbx_fixture(cls, env, company, pbx):
        pbx.webhook_queued = True

    def test_each_event_processed_once(self):
        bodies = []
        for index in range(self.EVENTS // 2):
            call_id = f"TWO-{index:03d}"
            # each call delivered twice (the PBX retries): two runs may take one call's records
            bodies += [json.dumps(call_payload(call_id, f"0977{index:06d}"))] * 2
        for start in range(0, len(bodies), 8):
            statuses = self.post_all(bodies[start : start + 8])
            self.assertEqual(set(statuses), {200})

        # each run holds its first claimed batch until the other has claimed one too: both
        # hold locked rows at the same moment (a scheduler that lets one thread drain the
        # queue alone would otherwise prove nothing, and break the barrier)
        Event = type(self.env["vpbx.webhook.event"])
        apply_batch = Event._vpbx_apply_batch
        both_claimed = threading.Barrier(2)
        first = threading.local()
        first_batches = []

        def held_apply_batch(events):
            if not getattr(first, "seen", False):
                first.seen = True
                first_batches.append(set(events.ids))
                both_claimed.wait(30)
            return apply_batch(events)

        def run(cr):
            env = real_env(self.registry, cr)
            # batches of an odd size: a call's two deliveries often go to both runs
            return env["vpbx.webhook.event"]._cron_vpbx_process_queue(batch=7, grace=0)

        # the unique violations and deadlocks of batches taken at the same moment are retried
        with (
            mute_logger("odoo.sql_db"),
            patch.object(Event, "_vpbx_apply_batch", held_apply_batch),
        ):
            done, errors = at_once(self.dbname, run, count=2)
        self.assertFalse(both_claimed.broken, "both runs held a batch at the same moment")
        self.assertFalse(errors)
        self.assertEqual(len(first_batches), 2)
        self.assertTrue(all(first_batches), "each run claimed deliveries")
        self.assertFalse(set.intersection(*first_batches), "SKIP LOCKED: not the same ones")
        # (a run whose batch met the other's insert of a call releases it and claims again:
        # the other may take it meanwhile, so how many each run ends with is not fixed)
        self.assertEqual(sum(done), self.EVENTS, "no event taken by both runs, none left")
        with self.committed() as env:
            env.cr.execute(
                "SELECT count(*), bool_and(attempt_count = 1), bool_and(state = 'processed')"
                "  FROM vpbx_webhook_event WHERE pbx_id = %s",
                [self.pbx_id],
            )
            self.assertEqual(env.cr.fetchone(), (self.EVENTS, True, True), "each processed once")
            env.cr.execute(
                "SELECT count(*), count(DISTINCT vpbx_call_id), bool_and(is_final)"
                " FROM vpbx_call WHERE pbx_id = %s",
                [self.pbx_id],
            )
            self.assertEqual(env.cr.fetchone(), (self.EVENTS // 2, self.EVENTS // 2, True))


@tagged("post_install", "-at_install")
class TestBadRecordInABatch(ConcurrentWebhookCase):
    """A record the database refuses, in a batch of the queue: its event fails alone (the batch
    is rolled back and replayed one by one) and is replayed later from its body."""

    @classmethod
    def _vpbx_fixture(cls, env, company, pbx):
        pbx.webhook_queued = True

    def test_fails_alone_and_is_replayable(self):
        bodies = [json.dumps(call_payload(f"BATCH-{name}", "0912000001")) for name in "1X2"]
        self.assertEqual(set(self.post_all(bodies)), {200})
        with self.committed() as env:
            bad = env["vpbx.webhook.event"].search(
                [("pbx_id", "=", self.pbx_id), ("body", "like", "BATCH-X")]
            )
            # mapped on receipt into a record the database refuses (a duration out of range):
            # its INSERT fails inside the batch's one upsert
            bad.records = json.dumps([{"call_id": "BATCH-X", "duration": 10**12}])
            env.cr.commit()  # pylint: disable=invalid-commit
            with (
                mute_logger("odoo.sql_db"),
                self.assertLogs("odoo.addons.sentech_vpbx.models.vpbx_webhook_event", "WARNING"),
            ):
                done = env["vpbx.webhook.event"]._cron_vpbx_process_queue(grace=0)
            self.assertEqual(done, 3)
            events = env["vpbx.webhook.event"].search([("pbx_id", "=", self.pbx_id)])
            self.assertEqual(
                sorted((event.state, event.attempt_count) for event in events),
                [("failed", 1), ("processed", 1), ("processed", 1)],
            )
            Call = env["vpbx.call"]
            stored = Call.search([("pbx_id", "=", self.pbx_id)]).mapped("vpbx_call_id")
            self.assertEqual(sorted(stored), ["BATCH-1", "BATCH-2"])
            # replayed, mapped afresh from its body: stored
            bad.action_vpbx_replay()
            self.assertEqual(bad.state, "processed")
            self.assertEqual(Call.search_count([("vpbx_call_id", "=", "BATCH-X")]), 1)
            env.cr.commit()  # pylint: disable=invalid-commit
