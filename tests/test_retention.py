"""Retention (issue #17, part 4): the daily purge of old webhook events, and of calls when an
account keeps them for a time only; batches, time budget, rows held by others skipped."""

import threading
from datetime import timedelta

from odoo import SUPERUSER_ID, api, fields
from odoo.exceptions import AccessError, ValidationError
from odoo.sql_db import db_connect
from odoo.tests import HttpCase, new_test_user, tagged

from .common import ConcurrentWebhookCase, make_pbx

PURGE_CRON = "sentech_vpbx.ir_cron_vpbx_purge"
STATES = ("new", "processed", "ignored", "failed", "rejected")


def ago(days):
    return fields.Datetime.now() - timedelta(days=days)


@tagged("post_install", "-at_install")
class TestRetention(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pbx = make_pbx(cls.env, name="Retention A")
        cls.Event = cls.env["vpbx.webhook.event"]
        cls.Call = cls.env["vpbx.call"]
        cls.cron = cls.env.ref(PURGE_CRON)

    def setUp(self):
        super().setUp()
        self.env["ir.cron.trigger"].search([("cron_id", "=", self.cron.id)]).unlink()

    def event(self, state, days, pbx=None):
        return self.Event.create(
            {
                "pbx_id": (pbx or self.pbx).id,
                "state": state,
                "body": '{"phone_number": "0912345678"}',
                "received_at": ago(days),
            }
        )

    def call(self, call_id, days, pbx=None):
        return self.Call.create(
            {
                "vpbx_call_id": call_id,
                "pbx_id": (pbx or self.pbx).id,
                "customer_number": "0912345678",
                "status": "answered",
                "is_final": True,
                "start_time": ago(days),
            }
        )

    def purge(self, **kw):
        # the purge commits batch by batch: on a (test) cursor of its own, as the scheduler
        self.env.flush_all()
        with self.registry.cursor() as cr:
            removed = api.Environment(cr, SUPERUSER_ID, {})["vpbx.retention"]._cron_vpbx_purge(**kw)
        self.env.invalidate_all()
        return removed

    def triggers(self):
        return self.env["ir.cron.trigger"].search([("cron_id", "=", self.cron.id)])

    # ------------------------------------------------------------------ events
    def test_defaults(self):
        self.assertEqual(self.pbx.retention_event_days, 30)
        self.assertEqual(self.pbx.retention_call_days, 0, "calls are kept for ever")
        self.assertTrue(self.cron.active)
        self.assertEqual((self.cron.interval_number, self.cron.interval_type), (1, "days"))

    def test_keeps_new_and_failed_purges_old_done_events(self):
        old = {state: self.event(state, 40) for state in STATES}
        recent = {state: self.event(state, 10) for state in STATES}
        # a processed event's calls stay
        call = self.call("RET-LINKED", 40)
        old["processed"].call_ids = call
        removed = self.purge()
        self.assertEqual(removed[self.pbx.id], (3, 0))
        self.assertEqual(
            self.Event.search([("pbx_id", "=", self.pbx.id)]),
            old["new"] | old["failed"] | self.Event.union(*recent.values()),
        )
        self.assertTrue(call.exists())
        self.assertEqual(self.pbx.retention_last_events, 3)
        self.assertEqual(self.pbx.retention_last_calls, 0)
        self.assertTrue(self.pbx.retention_last_complete)
        self.assertAlmostEqual(
            self.pbx.retention_last_run, fields.Datetime.now(), delta=timedelta(minutes=1)
        )
        self.assertFalse(self.triggers(), "nothing left: no next run")
        # nothing older left: the next run says so
        self.assertEqual(self.purge()[self.pbx.id], (0, 0))
        self.assertEqual(self.pbx.retention_last_events, 0)

    def test_per_account_windows(self):
        short = make_pbx(self.env, name="Retention short", retention_event_days=7)
        forever = make_pbx(self.env, name="Retention for ever", retention_event_days=0)
        kept = self.event("processed", 20) | self.event("processed", 5, short)
        kept |= self.event("processed", 6, short) | self.event("rejected", 4000, forever)
        gone = self.event("processed", 31) | self.event("processed", 9, short)
        self.purge()
        self.assertEqual(kept.exists(), kept)
        self.assertFalse(gone.exists())
        self.assertEqual(short.retention_last_events, 1)
        self.assertEqual(forever.retention_last_events, 0)
        self.assertTrue(forever.retention_last_run)

    def test_archived_account_purged_too(self):
        self.pbx.active = False
        self.event("processed", 100)
        self.assertEqual(self.purge()[self.pbx.id], (1, 0))

    def test_batches_time_budget_and_next_run(self):
        events = self.Event.union(*(self.event("processed", 60) for _index in range(5)))
        # a budget spent at once (0 s, whatever the clock's resolution): one batch per run, each
        # run triggers the next
        removed = self.purge(event_batch=2, time_limit=0)
        self.assertEqual(removed[self.pbx.id], (2, 0))
        self.assertFalse(self.pbx.retention_last_complete)
        self.assertEqual(self.pbx.retention_last_events, 2)
        self.assertEqual(len(self.triggers()), 1)
        self.purge(event_batch=2, time_limit=0)
        self.assertEqual(self.pbx.retention_last_events, 4, "a continued purge adds up")
        self.assertEqual(len(events.exists()), 1)
        self.purge(event_batch=2, time_limit=0)
        self.assertFalse(events.exists())
        self.assertTrue(self.pbx.retention_last_complete)
        self.assertEqual(self.pbx.retention_last_events, 5)
        self.triggers().unlink()
        self.purge(event_batch=2)
        self.assertEqual(self.pbx.retention_last_events, 0, "a new purge counts afresh")
        self.assertFalse(self.triggers())

    def test_a_batch_stays_a_batch_whatever_the_plan(self):
        """With the plan that scans the batch's sub-select again for every row (a nested
        loop), `id IN (SELECT … LIMIT 2 FOR UPDATE SKIP LOCKED)` removed every old event in one
        statement: each scan locked the next two, past those the statement had deleted."""
        events = self.Event.union(*(self.event("processed", 60) for _index in range(5)))
        settings = ("hashjoin", "mergejoin", "material", "sort", "hashagg")
        for setting in settings:
            self.env.cr.execute(f"SET LOCAL enable_{setting} = off")
        try:
            removed = self.purge(event_batch=2, time_limit=0)
        finally:
            for setting in settings:
                self.env.cr.execute(f"RESET enable_{setting}")
        self.assertEqual(removed[self.pbx.id], (2, 0))
        self.assertEqual(len(events.exists()), 3)

    # ------------------------------------------------------------------ calls
    def test_calls_kept_for_ever_by_default(self):
        calls = self.call("RET-OLD", 3000) | self.call("RET-NEW", 1)
        self.purge()
        self.assertEqual(calls.exists(), calls)

    def test_calls_older_than_the_window_go_with_their_chatter(self):
        self.pbx.retention_call_days = 90
        partner = self.env["res.partner"].create({"name": "Retention contact"})
        old = self.call("RET-OLD", 91)
        old.partner_id = partner
        old.message_post(body="about the old call")
        old.activity_schedule("mail.mail_activity_data_todo", summary="old call todo")
        partner.message_post(body="note on the contact")
        kept = self.call("RET-KEPT", 89)
        event = self.event("processed", 1)
        event.call_ids = old | kept
        messages = self.env["mail.message"].search(
            [("model", "=", "vpbx.call"), ("res_id", "=", old.id)]
        )
        self.assertTrue(messages)
        self.purge()
        self.assertFalse(old.exists())
        self.assertTrue(kept.exists())
        self.assertFalse(messages.exists())
        self.assertFalse(
            self.env["mail.activity"].search(
                [("res_model", "=", "vpbx.call"), ("res_id", "=", old.id)]
            )
        )
        self.assertEqual(event.call_ids, kept, "the recent event stays, without the old call")
        self.assertIn("note on the contact", partner.message_ids.mapped("body")[0])
        self.assertEqual(self.pbx.retention_last_calls, 1)

    # ------------------------------------------------------------------ settings and rights
    def test_negative_days_refused(self):
        with self.assertRaises(ValidationError) as cm:
            self.pbx.retention_event_days = -1
        self.assertIn("0 to keep for ever", str(cm.exception))

    def test_purge_now_button(self):
        user = new_test_user(
            self.env, login="ret_user", groups="base.group_user,sentech_vpbx.group_vpbx_user"
        )
        with self.assertRaises(AccessError):
            self.pbx.with_user(user).action_purge_now()
        manager = new_test_user(
            self.env,
            login="ret_manager",
            groups="base.group_user,sentech_vpbx.group_vpbx_manager",
        )
        action = self.pbx.with_user(manager).action_purge_now()
        self.assertEqual(action["params"]["type"], "info")
        self.assertEqual(len(self.triggers()), 1)


@tagged("post_install", "-at_install")
class TestRetentionLocks(ConcurrentWebhookCase):
    """The purge never waits for a row another transaction holds: it leaves it to a later run."""

    def test_row_held_by_a_delivery_is_skipped(self):
        with self.committed() as env:
            Event = env["vpbx.webhook.event"]
            ids = [
                Event.create(
                    {"pbx_id": self.pbx_id, "state": "processed", "received_at": ago(45)}
                ).id
                for _index in range(4)
            ]
            env.cr.commit()  # pylint: disable=invalid-commit
        held, locked = threading.Event(), threading.Event()

        def hold():
            with db_connect(self.dbname).cursor() as cr:
                cr.execute("SELECT id FROM vpbx_webhook_event WHERE id = %s FOR UPDATE", [ids[0]])
                locked.set()
                held.wait(60)

        holder = threading.Thread(target=hold)
        holder.start()
        try:
            self.assertTrue(locked.wait(30))
            with self.committed() as env:
                env.cr.execute("SET lock_timeout = '2s'")  # a wait would fail the test
                removed = env["vpbx.retention"]._cron_vpbx_purge(event_batch=2)
            self.assertEqual(removed[self.pbx_id], (3, 0))
        finally:
            held.set()
            holder.join(30)
        with self.committed() as env:
            left = env["vpbx.webhook.event"].search([("pbx_id", "=", self.pbx_id)])
            self.assertEqual(left.ids, ids[:1])
            # once released, the next run takes it
            self.assertEqual(env["vpbx.retention"]._cron_vpbx_purge()[self.pbx_id], (1, 0))
