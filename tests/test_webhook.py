"""POST /vpbx/webhook/<token>: storing, answering, processing, replaying, concurrency."""

import json
import logging
import uuid
from datetime import datetime
from unittest.mock import patch

from odoo import SUPERUSER_ID, api, fields
from odoo.sql_db import db_connect
from odoo.tests import TransactionCase, tagged
from odoo.tools import mute_logger

from ..services.call_mapping import parse_record
from ..services.transaction import in_new_transaction
from .common import (
    BASE_TIME,
    EVENT_LOGGER,
    VpbxWebhookCommon,
    at_once,
    call_payload,
    live_payload,
    make_pbx,
    remove_committed_company,
)

#: the retries of a concurrency error are logged by services.transaction.in_new_transaction
TRANSACTION_LOGGER = "odoo.addons.sentech_vpbx.services.transaction"


@tagged("post_install", "-at_install")
class TestWebhook(VpbxWebhookCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partner = cls.env["res.partner"].create(
            {"name": "Nguyễn Văn An", "mobile": "0912 345 678"}
        )

    def test_stores_and_links(self):
        response = self.post(call_payload("T-1"))
        self.assertEqual(response.status_code, 200)
        answer = response.json()
        self.assertEqual(answer["status"], "ok")
        event = self.Event.browse(answer["event_id"])
        self.assertEqual(event.state, "processed")
        self.assertEqual(event.pbx_id, self.pbx)
        self.assertEqual(event.company_id, self.company)
        self.assertIn("T-1", event.body)
        self.assertEqual(event.content_type, "application/json")
        self.assertTrue(event.remote_addr)
        call = self.calls("T-1")
        self.assertEqual(event.call_ids, call)
        self.assertEqual(event.vpbx_call_id, "T-1")
        self.assertEqual(call.partner_id, self.partner)
        self.assertEqual(call.status, "answered")
        self.assertEqual(call.direction, "inbound")
        self.assertTrue(call.is_final)
        self.assertEqual(call.customer_number, "0912345678")
        self.assertEqual(call.customer_number_normalized, "+84912345678")
        self.assertEqual(call.duration, 65)
        self.assertEqual(call.talk_duration, 60)
        self.assertEqual(call.hotline, "842888806669")
        self.assertEqual(call.recording_url, "https://rec.example.com/T-1.mp3")
        self.assertEqual(call.start_time, datetime(2025, 3, 10, 3, 0))

    def test_list_body_and_form_body(self):
        response = self.post([call_payload("T-L1"), call_payload("T-L2", missed=True)])
        self.assertEqual(response.status_code, 200)
        event = self.Event.browse(response.json()["event_id"])
        self.assertEqual(len(event.call_ids), 2)
        self.assertEqual(self.calls("T-L2").status, "missed")
        # form-encoded, as the simulator sends it: flat fields
        from odoo.addons.sentech_vpbx.tools.vpbx_simulator import VpbxSimulator

        url = f"{self.base_url()}/vpbx/webhook/{self.token}"
        statuses = VpbxSimulator().push(url, [call_payload("T-F1")], form=True)
        self.env.invalidate_all()
        self.assertEqual(statuses, [200])
        call = self.calls("T-F1")
        self.assertEqual(call.partner_id, self.partner)
        self.assertEqual(call.talk_duration, 60)
        event = self.events().filtered(lambda e: e.vpbx_call_id == "T-F1")
        self.assertEqual(event.content_type, "application/x-www-form-urlencoded")
        self.assertIn("transaction_id=T-F1", event.body)

    def test_duplicate_five_times_one_call(self):
        for _ in range(5):
            self.assertEqual(self.post(call_payload("T-DUP")).status_code, 200)
        self.assertEqual(len(self.calls("T-DUP")), 1)
        self.assertEqual(len(self.events().filtered(lambda e: e.vpbx_call_id == "T-DUP")), 5)
        self.assertEqual(len(self.notes(self.partner)), 1, "the note is posted once")

    def test_unknown_token_forbidden_nothing_stored(self):
        before = self.Event.search_count([])
        response = self.post(call_payload("T-403"), token="not-the-token")
        self.assertEqual(response.status_code, 403)
        self.assertEqual(response.json()["status"], "error")
        response = self.post(call_payload("T-403"), token=self.token[:-1] + "x")
        self.assertEqual(response.status_code, 403)
        self.assertEqual(self.Event.search_count([]), before)
        self.assertFalse(self.calls("T-403"))

    def test_oversized_body(self):
        before = self.Event.search_count([])
        big = json.dumps(call_payload("T-413", note="x" * (1024 * 1024)))
        # an announced Content-Length over the limit: refused without storing anything
        response = self.post(raw=big)
        self.assertEqual(response.status_code, 413)
        self.assertEqual(response.json()["error"], "payload_too_large")
        # chunked: no Content-Length, the read itself stops at the limit
        chunks = iter([b'{"transaction_id": "T-413", "note": "'] + [b"y" * 65536] * 20 + [b'"}'])
        response = self.post(raw=chunks)
        self.assertEqual(response.status_code, 413)
        self.assertEqual(response.json()["error"], "payload_too_large")
        # form bodies too
        response = self.post(
            raw="transaction_id=T-413&note=" + "z" * (1024 * 1024),
            content_type="application/x-www-form-urlencoded",
        )
        self.assertEqual(response.status_code, 413)
        self.assertEqual(self.Event.search_count([]), before)
        self.assertFalse(self.calls("T-413"))
        # just under the limit is fine
        payload = call_payload("T-1MB")
        payload["note"] = "n" * (1024 * 1024 - len(json.dumps(payload)) - 20)
        self.assertEqual(self.post(payload).status_code, 200)
        self.assertEqual(len(self.calls("T-1MB")), 1)

    def test_malformed_and_no_call_id_rejected(self):
        for raw, reason in (
            ('{"transaction_id": "T-BAD", ', "not valid JSON"),
            ("[1, 2]", "not an object"),
            (" ", "empty"),
            (json.dumps({"direction": "inbound", "phone_number": "0912345678"}), "No call id"),
            (json.dumps([call_payload("T-OK"), {"phone_number": "0912"}]), "No call id"),
        ):
            response = self.post(raw=raw)
            self.assertEqual(response.status_code, 400, raw)
            answer = response.json()
            self.assertEqual(answer["status"], "rejected")
            event = self.Event.browse(answer["event_id"])
            self.assertEqual(event.state, "rejected")
            self.assertIn(reason, event.error)
            self.assertEqual(event.body or "", raw)
        self.assertFalse(self.calls("T-OK"), "a rejected body stores no call")
        response = self.post(raw=b"\xff\xfe{}")
        self.assertEqual(response.status_code, 400)
        self.assertIn("UTF-8", self.Event.browse(response.json()["event_id"]).error)

    def test_invalid_utf8_with_nul_rejected(self):
        """PostgreSQL text holds no NUL: the body is kept with replacement characters."""
        for raw in (b"\xff\x00{}", b'{"transaction_id": "T-NUL\x00"}'):
            response = self.post(raw=raw)
            self.assertEqual(response.status_code, 400, raw)
            event = self.Event.browse(response.json()["event_id"])
            self.assertEqual(event.state, "rejected")
            self.assertNotIn("\x00", event.body)
            self.assertIn("\ufffd", event.body)
        self.assertIn("UTF-8", self.events()[1].error)
        self.assertIn("NUL", self.events()[0].error)

    def test_never_500(self):
        for raw in ("null", "12", '"text"', "{" * 5000, '{"transaction_id": {"a": 1}}', "a=b&c"):
            response = self.post(raw=raw)
            self.assertIn(response.status_code, (200, 400), raw)

    def test_processing_failure_then_replay(self):
        Call = type(self.env["vpbx.call"])
        with (
            patch.object(Call, "_vpbx_upsert_records", side_effect=RuntimeError("mapping broke")),
            self.assertLogs(EVENT_LOGGER, logging.WARNING),
        ):
            response = self.post(call_payload("T-FAIL"))
        self.assertEqual(response.status_code, 200, "stored: acknowledged even if processing fails")
        event = self.Event.browse(response.json()["event_id"])
        self.assertEqual(event.state, "failed")
        self.assertIn("mapping broke", event.error)
        self.assertEqual(event.attempt_count, 1)
        self.assertFalse(self.calls("T-FAIL"), "the failed work was rolled back")

        event.action_vpbx_replay()
        self.assertEqual(event.state, "processed")
        self.assertFalse(event.error)
        self.assertEqual(event.call_ids, self.calls("T-FAIL"))
        self.assertEqual(self.calls("T-FAIL").partner_id, self.partner)

    def test_retry_cron(self):
        Call = type(self.env["vpbx.call"])
        with (
            patch.object(Call, "_vpbx_upsert_records", side_effect=RuntimeError("down")),
            self.assertLogs(EVENT_LOGGER, logging.WARNING),
        ):
            failed = self.Event.browse(self.post(call_payload("T-CRON")).json()["event_id"])
        failed.received_at = "2025-01-01 00:00:00"
        exhausted = failed.copy(
            {"state": "failed", "attempt_count": 5, "received_at": "2025-01-01 00:00:00"}
        )
        recent = failed.copy({"state": "new", "received_at": fields.Datetime.now()})
        # the cron commits: run it on a (test) cursor of its own, as the scheduler would
        self.env.flush_all()
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["vpbx.webhook.event"]._cron_vpbx_retry_events()
        self.env.invalidate_all()
        self.assertEqual(failed.state, "processed")
        self.assertEqual(failed.attempt_count, 2)
        self.assertEqual(exhausted.state, "failed", "attempts are bounded")
        self.assertEqual(recent.state, "new", "fresh events are left to the controller")
        self.assertEqual(len(self.calls("T-CRON")), 1)

    def test_live_then_final(self):
        response = self.post(live_payload("T-LIVE"))
        self.assertEqual(response.status_code, 200)
        call = self.calls("T-LIVE")
        self.assertEqual(call.status, "ringing")
        self.assertFalse(call.is_final)
        self.assertEqual(call.partner_id, self.partner)
        self.assertFalse(self.notes(self.partner), "no note before the call ends")

        self.post(live_payload("T-LIVE", state="answered", time_answer_start=BASE_TIME + 5))
        self.assertEqual(call.status, "in_progress")

        self.post(call_payload("T-LIVE"))
        self.assertEqual(call.status, "answered")
        self.assertTrue(call.is_final)
        self.assertEqual(call.duration, 65)
        self.assertEqual(len(self.notes(self.partner)), 1)

        # a late live event does not undo the final record
        response = self.post(live_payload("T-LIVE", state="ringing"))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["state"], "ignored")
        self.assertEqual(call.status, "answered")
        self.assertTrue(call.is_final)
        self.assertEqual(len(self.calls("T-LIVE")), 1)
        self.assertEqual(len(self.notes(self.partner)), 1)


@tagged("post_install", "-at_install")
class TestUpsertRace(TransactionCase):
    """`_vpbx_upsert_records` on real, separate database connections.

    The test transaction is invisible to other connections, so the company, its PBX account and
    the contact are created and committed on a connection of their own, and removed at the end.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dbname = cls.env.cr.dbname
        with db_connect(cls.dbname).cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = env["res.company"].create(
                {"name": f"VPBX race {uuid.uuid4().hex[:8]}", "country_id": env.ref("base.vn").id}
            )
            pbx = make_pbx(env, company, post_call_note=True)
            partner = env["res.partner"].create(
                {"name": "Race contact", "mobile": "0977 000 111", "company_id": company.id}
            )
            cr.commit()  # pylint: disable=invalid-commit
            cls.company_id, cls.pbx_id, cls.partner_id = company.id, pbx.id, partner.id
        cls.addClassCleanup(cls._remove_fixture)

    @classmethod
    def _remove_fixture(cls):
        with db_connect(cls.dbname).cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["vpbx.call"].search([("pbx_id", "=", cls.pbx_id)]).unlink()
            partner = env["res.partner"].browse(cls.partner_id)
            partner.message_ids.unlink()
            partner.unlink()
            env["vpbx.pbx"].browse(cls.pbx_id).unlink()
            cr.commit()  # pylint: disable=invalid-commit
            remove_committed_company(env, cls.company_id)

    def _count(self, call_id):
        with db_connect(self.dbname).cursor() as cr:
            cr.execute(
                "SELECT count(*), min(status), min(partner_id) FROM vpbx_call"
                " WHERE pbx_id = %s AND vpbx_call_id = %s",
                [self.pbx_id, call_id],
            )
            count, status, partner_id = cr.fetchone()
            cr.execute(
                "SELECT count(*) FROM mail_message WHERE model = 'res.partner' AND res_id = %s"
                " AND body LIKE %s",
                [self.partner_id, "%duration%"],
            )
            return count, status, partner_id, cr.fetchone()[0]

    def _env(self, cr):
        # the test runner holds the registry lock: hand the registry over instead of looking it up
        cr.transaction = api.Transaction(self.registry)
        return api.Environment(cr, SUPERUSER_ID, {})

    def _upsert_committed(self, cr, payload):
        env = self._env(cr)
        settings = env["vpbx.pbx"].browse(self.pbx_id)._vpbx_call_settings()
        record = parse_record(payload, settings.mapping)
        Call = env["vpbx.call"]
        return in_new_transaction(env, lambda: Call._vpbx_upsert_records(settings, [record]).ids)

    @mute_logger("odoo.sql_db")  # the expected unique violations are logged as bad queries
    def test_four_connections_one_call(self):
        call_id = f"RACE-{uuid.uuid4().hex}"
        notes_before = self._count(call_id)[3]
        payload = call_payload(call_id, "0977000111")
        results, errors = at_once(self.dbname, lambda cr: self._upsert_committed(cr, payload))
        self.assertFalse(errors)
        self.assertEqual(len(results), 4)
        self.assertEqual(len({tuple(ids) for ids in results}), 1, "all workers got the same call")
        count, status, partner_id, notes = self._count(call_id)
        self.assertEqual(count, 1)
        self.assertEqual(status, "answered")
        self.assertEqual(partner_id, self.partner_id)
        self.assertEqual(notes - notes_before, 1, "one note: one transition to final")

    @mute_logger("odoo.sql_db")
    def test_insert_between_lookup_and_insert_retries(self):
        """Deterministic: another connection commits the call after our snapshot was taken."""
        call_id = f"RACE-{uuid.uuid4().hex}"
        notes_before = self._count(call_id)[3]
        with db_connect(self.dbname).cursor() as cr_a, db_connect(self.dbname).cursor() as cr_b:
            cr_a.execute("SELECT 1")  # A's REPEATABLE READ snapshot starts here
            self._upsert_committed(cr_b, live_payload(call_id, "0977000111"))
            with self.assertLogs(TRANSACTION_LOGGER, logging.INFO) as logs:
                self._upsert_committed(cr_a, call_payload(call_id, "0977000111"))
        self.assertTrue(any("UniqueViolation" in line for line in logs.output), logs.output)
        count, status, partner_id, notes = self._count(call_id)
        self.assertEqual(count, 1)
        self.assertEqual(status, "answered", "the retry updated the row inserted by B")
        self.assertEqual(partner_id, self.partner_id)
        self.assertEqual(notes - notes_before, 1)
