"""History sync and range import against the simulator: no call lost, none duplicated."""

import contextlib
import json
import time
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.addons.sentech_vpbx.tools.vpbx_simulator import VpbxSimulator
from odoo.exceptions import ValidationError
from odoo.sql_db import db_connect
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from ..services import history_sync
from ..services.call_mapping import parse_record
from ..services.transaction import LOCK_IMPORT, LOCK_SYNC
from .common import make_pbx

KEY = "history-sim-key"
HOUR = 3600
SYNC_LOGGER = "odoo.addons.sentech_vpbx.models.vpbx_sync_state"
PBX_LOGGER = "odoo.addons.sentech_vpbx.models.vpbx_pbx"
IMPORT_LOGGER = "odoo.addons.sentech_vpbx.models.vpbx_history_import"


@tagged("post_install", "-at_install")
class VpbxHistoryCommon(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sim = VpbxSimulator(api_key=KEY, seed=5).start()
        cls.addClassCleanup(cls.sim.stop)
        cls.company = cls.env.company
        cls.company.country_id = cls.env.ref("base.vn")
        # the scheduled sync runs every account with the sync on: only this class's ones
        cls.env["vpbx.pbx"].search([]).sync_enabled = False
        cls.pbx = make_pbx(cls.env, missed_call_user_id=False, post_call_note=False)
        cls.Call = cls.env["vpbx.call"]

    def setUp(self):
        super().setUp()
        self.sim.reset()
        self.now = int(time.time())
        self.pbx.write(
            {
                "api_url": self.sim.url,
                "api_key": KEY,
                "auth_mode": "bearer",
                "timeout": 5.0,
                "history_version": "v2",
                "history_time_unit": "ms",
                "sync_overlap": 30,
            }
        )
        self.state_of(self.pbx).write(
            {"cursor": self.start_cursor(), "next_page": 0, "last_error": False}
        )

    def start_cursor(self):
        return fields.Datetime.now() - timedelta(hours=4)

    # ------------------------------------------------------------------ helpers

    def generate(self, n, hours=3):
        """n finished calls that started in the last `hours` hours (all inside the window)."""
        return self.sim.generate_calls(n, self.now - hours * HOUR, self.now - 120)

    def state_of(self, pbx):
        return self.env["vpbx.sync.state"]._vpbx_state_of(pbx)

    def sync(self, pbx=None):
        pbx = pbx or self.pbx
        result = self.env["vpbx.sync.state"]._vpbx_sync(pbx)
        self.env.invalidate_all()
        return result[pbx.id]

    def call_ids(self):
        calls = self.Call.search([("pbx_id", "=", self.pbx.id)])
        return calls.mapped("vpbx_call_id")

    def history_requests(self, version="v2"):
        return self.sim.calls_for(f"history_{version}")

    def at_request(self, endpoint, nth, action):
        """Run `action()` just before the `nth` request of `endpoint` reaches the simulator
        (e.g. inject a fault there): a failure in the middle of a run."""
        sim, seen = self.sim, {"n": 0}
        take = sim._take_fault

        def take_fault(key):
            if key == endpoint:
                seen["n"] += 1
                if seen["n"] == nth:
                    action()
            return take(key)

        return patch.object(sim, "_take_fault", take_fault)

    def assert_exactly(self, records):
        ids = self.call_ids()
        self.assertEqual(len(ids), len(set(ids)), "no call is logged twice")
        self.assertEqual(set(ids), {r["transaction_id"] for r in records})

    @contextlib.contextmanager
    def held_elsewhere(self, lock_class, object_id):
        """The advisory lock held by another database session (another worker) meanwhile."""
        with db_connect(self.env.cr.dbname).cursor() as cr:
            cr.execute("SELECT pg_try_advisory_lock(%s, %s)", [lock_class, object_id])
            self.assertTrue(cr.fetchone()[0], "nobody holds the lock before the test")
            try:
                yield
            finally:
                cr.execute("SELECT pg_advisory_unlock(%s, %s)", [lock_class, object_id])

    def assert_lock_free(self, lock_class, object_id):
        """Another database session can take the advisory lock: the run released it."""
        with db_connect(self.env.cr.dbname).cursor() as cr:
            cr.execute("SELECT pg_try_advisory_lock(%s, %s)", [lock_class, object_id])
            taken = cr.fetchone()[0]
            if taken:
                cr.execute("SELECT pg_advisory_unlock(%s, %s)", [lock_class, object_id])
        self.assertTrue(taken, "the advisory lock was released")

    def failing_store(self, kind):
        """Patch the storing of a history page to fail: with a Python error, or with an SQL
        error that leaves the transaction aborted."""
        Pbx = type(self.env["vpbx.pbx"])

        original = Pbx._vpbx_history_store

        def store(pbx, items, settings=None):
            original(pbx, items, settings)  # the page's calls are written, then it fails
            if kind == "sql":
                pbx.env.cr.execute("SELECT 1 / 0")
            raise RuntimeError("page storing broke")

        return patch.object(Pbx, "_vpbx_history_store", store)


class TestHistorySync(VpbxHistoryCommon):
    def test_pages_imported_once_then_overlap_adds_nothing(self):
        records = self.generate(520)
        cursor_before = self.pbx.sync_cursor
        result = self.sync()
        self.assertNotIn("error", result)
        self.assertEqual(result["count"], 520)
        self.assertEqual(result["new"], 520)
        self.assertEqual(result["pages"], 11)
        self.assert_exactly(records)
        requests = self.history_requests()
        self.assertEqual([int(r["query"]["page"]) for r in requests], list(range(1, 12)))
        self.assertEqual({r["query"]["size"] for r in requests}, {"50"})
        window_from = requests[0]["json"]["fromDate"]
        self.assertEqual(window_from, history_sync.to_epoch(cursor_before - timedelta(minutes=30)))
        pbx = self.pbx
        self.assertGreater(pbx.sync_cursor, cursor_before)
        self.assertEqual(pbx.sync_last_count, 520)
        self.assertEqual(pbx.sync_last_new, 520)
        self.assertFalse(pbx.sync_next_page)
        self.assertFalse(pbx.sync_last_error)
        self.assertTrue(pbx.sync_last_run)
        # every record took the webhook's mapping
        call = self.Call.search([("vpbx_call_id", "=", records[0]["transaction_id"])])
        expected = parse_record(records[0], self.pbx._vpbx_call_settings().mapping)
        self.assertEqual(call.status, expected.status)
        self.assertEqual(call.start_time, expected.start_time)
        self.assertEqual(call.customer_number, expected.customer_number)
        self.assertTrue(call.is_final)

        # second run: the overlap reads the last 30 minutes again and adds nothing
        first_cursor = pbx.sync_cursor
        self.sim.requests_log.clear()
        result = self.sync()
        self.assertNotIn("error", result)
        self.assertEqual(result["new"], 0)
        self.assertEqual(len(self.call_ids()), 520)
        self.assertEqual(
            self.history_requests()[0]["json"]["fromDate"],
            history_sync.to_epoch(first_cursor - timedelta(minutes=30)),
        )
        self.assertEqual(self.pbx.sync_last_new, 0)
        self.assertGreaterEqual(self.pbx.sync_cursor, first_cursor)

    def test_calls_received_by_webhook_are_not_duplicated(self):
        records = self.generate(120)
        token = self.pbx.sudo().webhook_token
        self.env.flush_all()
        # one by HTTP, one straight through the shared upsert
        response = self.url_open(
            f"/vpbx/webhook/{token}",
            data=json.dumps(records[0]),
            headers={"Content-Type": "application/json"},
        )
        self.assertEqual(response.status_code, 200)
        settings = self.pbx._vpbx_call_settings()
        self.Call._vpbx_upsert_records(settings, [parse_record(records[1], settings.mapping)])
        self.env.flush_all()
        self.env.invalidate_all()
        self.assertEqual(len(self.call_ids()), 2)
        result = self.sync()
        self.assertEqual(result["count"], 120)
        self.assertEqual(result["new"], 118)
        self.assert_exactly(records)
        webhook_call = self.Call.search([("vpbx_call_id", "=", records[0]["transaction_id"])])
        self.assertTrue(webhook_call.sudo().webhook_event_ids, "still the webhook's call")

    def test_token_expiry_between_pages(self):
        records = self.generate(160)
        with self.at_request("history_v2", 3, self.sim.expire_tokens):
            result = self.sync()
        self.assertNotIn("error", result)
        self.assertEqual(self.sim.auth_count, 2, "one new token, fetched in the middle")
        self.assert_exactly(records)
        pages = [int(r["query"]["page"]) for r in self.history_requests()]
        self.assertEqual(pages, [1, 2, 3, 3, 4], "the refused page is asked again")

    def test_token_expired_fault_mid_run(self):
        records = self.generate(160)
        with self.at_request(
            "history_v2", 3, lambda: self.sim.inject_fault("history_v2", "token_expired")
        ):
            result = self.sync()
        self.assertNotIn("error", result)
        self.assertEqual(self.sim.auth_count, 2)
        self.assert_exactly(records)

    def test_server_error_then_resume(self):
        records = self.generate(200)
        cursor_before = self.pbx.sync_cursor
        # more 500s than the client retries: the run stops at page 3
        with (
            self.at_request(
                "history_v2", 3, lambda: self.sim.inject_fault("history_v2", "http_500", count=5)
            ),
            self.assertLogs(SYNC_LOGGER, "WARNING"),
        ):
            result = self.sync()
        self.assertIn("500", result["error"])
        pbx = self.pbx
        self.assertEqual(pbx.sync_cursor, cursor_before, "the cursor did not move")
        self.assertEqual(pbx.sync_next_page, 3, "pages 1 and 2 are stored")
        self.assertIn("500", pbx.sync_last_error)
        self.assertEqual(len(self.call_ids()), 100)
        window = self.history_requests()[0]["json"]

        self.sim.clear_faults()
        self.sim.requests_log.clear()
        result = self.sync()
        self.assertNotIn("error", result)
        self.assert_exactly(records)
        resumed = self.history_requests()
        self.assertEqual(int(resumed[0]["query"]["page"]), 3, "resumes at the failed page")
        self.assertEqual(resumed[0]["json"], window, "in the same window")
        self.assertEqual(int(resumed[2]["query"]["page"]), 1, "then a new window up to now")
        self.assertGreater(self.pbx.sync_cursor, cursor_before)
        self.assertFalse(self.pbx.sync_last_error)
        self.assertFalse(self.pbx.sync_next_page)

    def test_dropped_connections_then_resume(self):
        # Odoo's test harness stretches HTTP time-outs to 10 s, so a dropped connection stands
        # in for a time-out here: both are a VpbxError that stops the run at the page
        records = self.generate(110)
        with (
            self.at_request(
                "history_v2", 2, lambda: self.sim.inject_fault("history_v2", "close", count=3)
            ),
            self.assertLogs(SYNC_LOGGER, "WARNING"),
        ):
            result = self.sync()
        self.assertIn("error", result)
        self.assertEqual(self.pbx.sync_next_page, 2)
        self.assertEqual(len(self.call_ids()), 50)
        result = self.sync()
        self.assertNotIn("error", result)
        self.assert_exactly(records)

    def test_rate_limit_then_success(self):
        records = self.generate(150)
        with self.at_request(
            "history_v2", 2, lambda: self.sim.inject_fault("history_v2", "rate_limit")
        ):
            result = self.sync()
        self.assertNotIn("error", result)
        self.assert_exactly(records)
        pages = [int(r["query"]["page"]) for r in self.history_requests()]
        self.assertEqual(pages, [1, 2, 2, 3])

    def test_v3(self):
        records = self.generate(75)
        self.pbx.history_version = "v3"
        result = self.sync()
        self.assertNotIn("error", result)
        self.assert_exactly(records)
        self.assertFalse(self.history_requests("v2"))
        requests = self.history_requests("v3")
        self.assertEqual(len(requests), 2)
        self.assertIn("fromDate", requests[0]["json"]["filter"])

    def test_seconds_unit(self):
        records = self.generate(30)
        self.pbx.history_time_unit = "s"
        self.sync()
        self.assert_exactly(records)
        self.assertLess(self.history_requests()[0]["json"]["toDate"], 1e12)

    def test_unreadable_record_is_skipped(self):
        records = self.generate(10)
        self.sim.add_call(transaction_id="", call_uuid=None, time_start_call=self.now - 600)
        with self.assertLogs(PBX_LOGGER, "WARNING"):
            result = self.sync()
        self.assertNotIn("error", result)
        self.assertEqual(result["skipped"], 1)
        self.assert_exactly(records)

    def test_cron_goes_on_after_a_failing_company(self):
        records = self.generate(40)
        Company, Pbx = self.env["res.company"], self.env["vpbx.pbx"]
        other = make_pbx(
            self.env,
            Company.create({"name": "VPBX Wrong Key Co"}),
            api_url=self.sim.url,
            api_key="wrong",
        )
        unconfigured = make_pbx(self.env, Company.create({"name": "VPBX Not Configured Co"}))
        self.assertTrue(other.sync_enabled, "on once URL and key are set")
        self.assertFalse(unconfigured.sync_enabled)
        self.state_of(other).cursor = self.pbx.sync_cursor
        self.assertEqual(
            Pbx.search([("sync_enabled", "=", True)]), self.pbx | other, "only these are synced"
        )
        with self.assertLogs(SYNC_LOGGER, "WARNING"):
            self.env["vpbx.sync.state"]._cron_vpbx_sync()
        self.env.invalidate_all()
        self.assertIn("api_key_invalid", other.sync_last_error)
        self.assertFalse(self.pbx.sync_last_error)
        self.assertFalse(unconfigured.sync_last_attempt, "not tried")
        self.assert_exactly(records)

    def test_sync_disabled_is_skipped(self):
        self.generate(5)
        self.pbx.sync_enabled = False
        self.env["vpbx.sync.state"]._cron_vpbx_sync()
        self.assertFalse(self.history_requests())

    def test_sync_now_button(self):
        self.generate(20)
        action = self.pbx.action_sync_now()
        self.assertEqual(action["params"]["type"], "success")
        self.assertIn("20", action["params"]["message"])
        self.env.invalidate_all()
        self.assertEqual(len(self.call_ids()), 20)

    def test_sync_now_button_when_busy(self):
        self.generate(20)
        with self.held_elsewhere(LOCK_SYNC, self.pbx.id):
            action = self.pbx.action_sync_now()
        self.assertEqual(action["params"]["type"], "warning")
        self.assertIn("already running", action["params"]["message"])
        self.assertFalse(self.history_requests())

    def test_busy_lock_skips_the_account(self):
        """The cron and a Sync now of the same account: the second returns at once."""
        records = self.generate(60)
        cursor_before = self.pbx.sync_cursor
        with self.held_elsewhere(LOCK_SYNC, self.pbx.id):
            result = self.sync()
        self.assertEqual(result, {"busy": True})
        self.assertFalse(self.history_requests(), "the PBX is not paged twice")
        self.assertFalse(self.call_ids())
        self.assertEqual(self.pbx.sync_cursor, cursor_before)
        self.assertFalse(self.pbx.sync_next_page)
        self.assertFalse(self.pbx.sync_last_error)
        self.assertFalse(self.pbx.sync_last_attempt, "no run was attempted")
        # another account's sync is not held up by this account's lock
        other = make_pbx(self.env, name="Second PBX", api_url=self.sim.url, api_key=KEY)
        with self.held_elsewhere(LOCK_SYNC, self.pbx.id):
            results = self.env["vpbx.sync.state"]._vpbx_sync(self.pbx | other)
        self.assertEqual(results[self.pbx.id], {"busy": True})
        self.assertEqual(results[other.id]["count"], 60)
        # once the other run is over, the account syncs
        self.assert_lock_free(LOCK_SYNC, self.pbx.id)
        result = self.sync()
        self.assertNotIn("busy", result)
        self.assertEqual(result["new"], 60)
        self.assert_exactly(records)

    def test_lock_released_when_storing_a_page_fails(self):
        for kind in ("python", "sql"):
            with self.subTest(kind=kind):
                self.sim.requests_log.clear()
                records = self.generate(70)
                cursor_before = self.pbx.sync_cursor
                with (
                    self.failing_store(kind),
                    self.assertLogs(SYNC_LOGGER, "ERROR"),
                    mute_logger("odoo.sql_db"),
                ):
                    result = self.sync()
                self.assert_lock_free(LOCK_SYNC, self.pbx.id)
                self.assertIn("error", result)
                self.assertIn(
                    "DivisionByZero" if kind == "sql" else "page storing broke", result["error"]
                )
                self.assertEqual(self.pbx.sync_last_error, result["error"])
                self.assertEqual(self.pbx.sync_cursor, cursor_before, "the cursor did not move")
                self.assertEqual(self.pbx.sync_next_page, 1, "the window resumes at page 1")
                self.assertFalse(self.call_ids(), "nothing of the failed page is kept")
                # the next run takes the lock again and stores everything
                result = self.sync()
                self.assertNotIn("error", result)
                self.assert_exactly(records)
                self.assertFalse(self.pbx.sync_last_error)
                self.assertFalse(self.pbx.sync_next_page)
                self.Call.search([("pbx_id", "=", self.pbx.id)]).unlink()
                self.sim.reset()
                self.state_of(self.pbx).cursor = self.start_cursor()


class TestHistoryImport(VpbxHistoryCommon):
    def start_cursor(self):
        return fields.Datetime.now()

    def new_import(self, days=90):
        now = fields.Datetime.now()
        return self.env["vpbx.history.import"].create(
            {"pbx_id": self.pbx.id, "date_from": now - timedelta(days=days), "date_to": now}
        )

    def run_cron(self, pages):
        done = self.env["vpbx.history.import"]._cron_vpbx_history_import(max_pages=pages)
        self.env.invalidate_all()
        return done

    def test_range_import_in_batches(self):
        # a fallback user would get a call-back activity for every missed inbound call...
        self.pbx.missed_call_user_id = self.env.user
        callback = self.env.ref("sentech_vpbx.mail_activity_type_vpbx_callback")
        Activity = self.env["mail.activity"]
        activities = Activity.search_count([("activity_type_id", "=", callback.id)])
        records = self.sim.generate_calls(260, self.now - 60 * 86400, self.now - 3600)
        task = self.new_import()
        self.assertEqual(task.state, "draft")
        cron = self.env.ref("sentech_vpbx.ir_cron_vpbx_history_import")
        Trigger = self.env["ir.cron.trigger"]
        triggers = Trigger.search_count([("cron_id", "=", cron.id)])
        task.action_start()
        self.assertEqual(task.state, "running")
        self.assertGreater(Trigger.search_count([("cron_id", "=", cron.id)]), triggers)
        self.env.flush_all()

        self.assertEqual(self.run_cron(2), 2)
        self.assertEqual(task.state, "running")
        self.assertEqual(task.pages_done, 2)
        self.assertEqual(task.total_pages, 6)
        self.assertEqual(task.pages_left, 4)
        self.assertEqual(task.record_count, 100)
        self.assertEqual(task.next_page, 3)
        self.assertAlmostEqual(task.progress, 100 * 2 / 6)
        triggers = Trigger.search_count([("cron_id", "=", cron.id)])

        self.run_cron(2)
        self.assertEqual(task.pages_done, 4)
        self.assertEqual(task.record_count, 200)
        self.assertGreater(
            Trigger.search_count([("cron_id", "=", cron.id)]), triggers, "work left: again"
        )
        triggers = Trigger.search_count([("cron_id", "=", cron.id)])

        self.run_cron(5)
        self.assertEqual(task.state, "done")
        self.assertEqual(task.pages_done, 6)
        self.assertEqual(task.pages_left, 0)
        self.assertEqual(task.record_count, 260)
        self.assertEqual(task.new_count, 260)
        self.assertTrue(task.finished_at)
        self.assert_exactly(records)
        # ...but two months of history are not two months of follow-ups
        self.assertTrue(
            any(r["direction"] == "inbound" and r["disposition"] != "answered" for r in records)
        )
        self.assertEqual(
            Activity.search_count([("activity_type_id", "=", callback.id)]), activities
        )
        self.assertEqual(
            Trigger.search_count([("cron_id", "=", cron.id)]), triggers, "nothing left to do"
        )
        window = self.history_requests()[0]["json"]
        self.assertEqual(window["fromDate"], history_sync.to_epoch(task.date_from))
        self.assertEqual(window["toDate"], history_sync.to_epoch(task.date_to))

        # the same range again adds nothing
        again = self.new_import()
        again.action_start()
        self.env.flush_all()
        self.run_cron(10)
        self.assertEqual(again.state, "done")
        self.assertEqual(again.record_count, 260)
        self.assertEqual(again.new_count, 0)
        self.assert_exactly(records)

    def test_next_page_fetched_while_a_page_is_stored(self):
        records = self.sim.generate_calls(120, self.now - 10 * 86400, self.now - 3600)
        task = self.new_import(days=30)
        task.action_start()
        self.env.flush_all()
        Pbx = type(self.env["vpbx.pbx"])
        original = Pbx._vpbx_history_store
        asked = []  # history requests the PBX had received when each page was stored

        def store(pbx, items, settings=None):
            page = len(asked) + 1
            deadline = time.monotonic() + 5
            # pages 1 and 2 of 3: the next page's request arrives while this one is stored
            while page < 3 and len(self.history_requests()) <= page and time.monotonic() < deadline:
                time.sleep(0.01)
            asked.append(len(self.history_requests()))
            return original(pbx, items, settings)

        with patch.object(Pbx, "_vpbx_history_store", store):
            self.run_cron(10)
        self.assertEqual(task.state, "done")
        self.assertEqual(asked, [2, 3, 3], "page n+1 asked while page n is stored, none after")
        pages = [int(r["query"]["page"]) for r in self.history_requests()]
        self.assertEqual(pages, [1, 2, 3], "each page asked once")
        self.assertEqual(self.sim.auth_count, 1, "the lent token is the account's")
        self.assert_exactly(records)

    def test_import_failure_is_retried_then_finishes(self):
        records = self.sim.generate_calls(120, self.now - 10 * 86400, self.now - 3600)
        task = self.new_import(days=30)
        task.action_start()
        self.env.flush_all()
        self.sim.inject_fault("history_v2", "http_500", count=3)
        with self.assertLogs(IMPORT_LOGGER, "WARNING"):
            self.run_cron(10)
        self.assertEqual(task.state, "running", "a passing failure is tried again later")
        self.assertEqual(task.failure_count, 1)
        self.assertIn("500", task.last_error)
        self.assertEqual(task.pages_done, 0)
        self.run_cron(10)
        self.assertEqual(task.state, "done")
        self.assertFalse(task.last_error)
        self.assertEqual(task.record_count, 120)
        self.assert_exactly(records)

    def test_import_permanent_error_fails_then_resumes(self):
        records = self.sim.generate_calls(120, self.now - 10 * 86400, self.now - 3600)
        task = self.new_import(days=30)
        task.action_start()
        self.env.flush_all()
        self.run_cron(1)
        self.assertEqual(task.pages_done, 1)
        self.sim.inject_fault("history_v2", "error", code="permission_denied")
        with self.assertLogs(IMPORT_LOGGER, "WARNING"):
            self.run_cron(10)
        self.assertEqual(task.state, "failed")
        self.assertIn("permission_denied", task.last_error)
        self.assertEqual(task.next_page, 2)
        task.action_start()
        self.env.flush_all()
        self.run_cron(10)
        self.assertEqual(task.state, "done")
        self.assertEqual(task.pages_done, 3)
        self.assert_exactly(records)

    def test_stop_and_dates(self):
        task = self.new_import()
        task.action_start()
        self.assertEqual(task.state, "running")
        task.action_stop()
        self.assertEqual(task.state, "draft")
        now = fields.Datetime.now()
        with self.assertRaises(ValidationError):
            self.env["vpbx.history.import"].create(
                {"pbx_id": self.pbx.id, "date_from": now, "date_to": now - timedelta(days=1)}
            )

    def run_batch(self, task, max_pages):
        """What the cron does for one import: its batch, in a cursor of its own."""
        with self.env.registry.cursor() as cr:
            result = task.with_env(task.env(cr=cr, su=True))._vpbx_run_batch(max_pages)
        self.env.invalidate_all()
        return result

    def test_busy_import_is_tried_again_later(self):
        records = self.sim.generate_calls(60, self.now - 10 * 86400, self.now - 3600)
        task = self.new_import(days=30)
        task.action_start()
        self.env.flush_all()
        with self.held_elsewhere(LOCK_IMPORT, task.id):
            pages, retry_at = self.run_batch(task, 10)
        self.assertEqual(pages, 0)
        self.assertGreater(retry_at, fields.Datetime.now(), "tried again later")
        self.assertFalse(self.history_requests(), "the PBX is not paged twice")
        self.assertEqual(task.state, "running")
        self.assertEqual((task.pages_done, task.next_page), (0, 1))
        self.assertFalse(task.last_error)
        # the cron skips it the same way, and triggers itself again
        cron = self.env.ref("sentech_vpbx.ir_cron_vpbx_history_import")
        Trigger = self.env["ir.cron.trigger"]
        triggers = Trigger.search_count([("cron_id", "=", cron.id)])
        with self.held_elsewhere(LOCK_IMPORT, task.id):
            self.assertEqual(self.run_cron(10), 0)
        self.assertGreater(Trigger.search_count([("cron_id", "=", cron.id)]), triggers)
        self.assertEqual(task.state, "running")
        self.assert_lock_free(LOCK_IMPORT, task.id)
        self.run_cron(10)
        self.assertEqual(task.state, "done")
        self.assert_exactly(records)

    def test_lock_released_when_storing_a_page_fails(self):
        records = self.sim.generate_calls(120, self.now - 10 * 86400, self.now - 3600)
        task = self.new_import(days=30)
        task.action_start()
        self.env.flush_all()
        self.assertEqual(self.run_batch(task, 1)[0], 1)
        for kind in ("python", "sql"):
            with self.subTest(kind=kind):
                with (
                    self.failing_store(kind),
                    self.assertLogs(IMPORT_LOGGER, "ERROR"),
                    mute_logger("odoo.sql_db"),
                ):
                    result = self.run_batch(task, 10)
                self.assert_lock_free(LOCK_IMPORT, task.id)
                self.assertEqual(result, (0, None), "not a passing PBX failure: not retried")
                self.assertEqual(task.state, "failed")
                self.assertIn(
                    "DivisionByZero" if kind == "sql" else "page storing broke", task.last_error
                )
                self.assertEqual((task.next_page, task.pages_done), (2, 1), "page 2 is left")
                self.assertEqual(task.record_count, 50)
                self.assertEqual(len(self.call_ids()), 50, "nothing of the failed page is kept")
                task.action_start()
                self.env.flush_all()
        # Start resumes it at the failed page
        self.run_cron(10)
        self.assertEqual(task.state, "done")
        self.assertEqual(task.pages_done, 3)
        self.assert_exactly(records)
