"""Several PBX accounts: each its own webhook URL, extensions and calls; a sync that runs page
after page while an administrator saves the company and the account."""

import threading
import time
import uuid
from datetime import timedelta
from unittest.mock import patch

from odoo import SUPERUSER_ID, Command, api, fields
from odoo.addons.sentech_vpbx.tools.vpbx_simulator import VpbxSimulator
from odoo.exceptions import ValidationError
from odoo.sql_db import db_connect
from odoo.tests import TransactionCase, tagged

from .common import (
    VpbxWebhookCommon,
    call_payload,
    make_pbx,
    real_env,
    remove_committed_company,
)


@tagged("post_install", "-at_install")
class TestTwoAccounts(VpbxWebhookCommon):
    """Two branches of one company on two tenants: extension 101 is two people."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pbx_a = cls.pbx
        cls.pbx_b = make_pbx(cls.env, name="Branch B", post_call_note=True)
        cls.token_a, cls.token_b = cls.token, cls.pbx_b.sudo().webhook_token
        Employee = cls.env["hr.employee"]
        cls.agent_a = Employee.create(
            {"name": "Agent A", "vpbx_pbx_id": cls.pbx_a.id, "vpbx_extension": "101"}
        )
        cls.agent_b = Employee.create(
            {"name": "Agent B", "vpbx_pbx_id": cls.pbx_b.id, "vpbx_extension": "101"}
        )
        cls.partner = cls.env["res.partner"].create({"name": "Khách", "mobile": "0912 345 678"})

    def calls_of(self, pbx, call_id):
        return self.Call.search([("pbx_id", "=", pbx.id), ("vpbx_call_id", "=", call_id)])

    def test_each_url_stores_on_its_account_with_its_agent(self):
        self.assertNotEqual(self.token_a, self.token_b)
        self.assertNotEqual(self.pbx_a._vpbx_webhook_url(), self.pbx_b._vpbx_webhook_url())
        for token in (self.token_a, self.token_b):
            self.assertEqual(
                self.post(call_payload("TWO-1", sip_user="101"), token=token).status_code, 200
            )
        call_a, call_b = self.calls_of(self.pbx_a, "TWO-1"), self.calls_of(self.pbx_b, "TWO-1")
        self.assertEqual(len(call_a), 1)
        self.assertEqual(len(call_b), 1, "the same call id on two tenants is two calls")
        self.assertEqual(call_a.employee_id, self.agent_a)
        self.assertEqual(call_b.employee_id, self.agent_b)
        self.assertEqual(call_a.company_id, self.company)
        self.assertEqual((call_a | call_b).partner_id, self.partner, "contacts are the company's")
        events = self.Event.search([("vpbx_call_id", "=", "TWO-1")])
        self.assertEqual(sorted(events.pbx_id.ids), sorted((self.pbx_a | self.pbx_b).ids))

    def test_token_of_a_never_stores_on_b(self):
        before_b = self.Event.search_count([("pbx_id", "=", self.pbx_b.id)])
        for index in range(3):
            response = self.post(
                call_payload(f"ONLY-A-{index}", sip_user="101"), token=self.token_a
            )
            self.assertEqual(response.status_code, 200)
            event = self.Event.browse(response.json()["event_id"])
            self.assertEqual(event.pbx_id, self.pbx_a)
            self.assertEqual(event.call_ids.pbx_id, self.pbx_a)
            self.assertEqual(event.call_ids.employee_id, self.agent_a)
        self.assertEqual(self.Event.search_count([("pbx_id", "=", self.pbx_b.id)]), before_b)
        self.assertFalse(
            self.Call.search(
                [("pbx_id", "=", self.pbx_b.id), ("vpbx_call_id", "=like", "ONLY-A-%")]
            )
        )
        Pbx = self.env["vpbx.pbx"]
        self.assertEqual(Pbx._vpbx_from_webhook_token(self.token_a), self.pbx_a)
        self.assertEqual(Pbx._vpbx_from_webhook_token(self.token_b), self.pbx_b)
        self.assertFalse(Pbx._vpbx_from_webhook_token(self.token_a + self.token_b))

    def test_regenerating_or_archiving_one_account_leaves_the_other(self):
        self.pbx_a.action_regenerate_webhook_token()
        self.assertEqual(self.post(call_payload("REGEN-1"), token=self.token_a).status_code, 403)
        self.assertEqual(self.post(call_payload("REGEN-1"), token=self.token_b).status_code, 200)
        self.assertEqual(
            self.post(call_payload("REGEN-2"), token=self.pbx_a.sudo().webhook_token).status_code,
            200,
        )
        self.pbx_b.active = False
        self.assertEqual(self.post(call_payload("REGEN-3"), token=self.token_b).status_code, 403)

    def test_extension_unique_per_account_not_per_company(self):
        with self.assertRaises(ValidationError):
            self.env["hr.employee"].create(
                {"name": "Twin", "vpbx_pbx_id": self.pbx_a.id, "vpbx_extension": "101"}
            )
        third = make_pbx(self.env, name="Branch C")
        twin = self.env["hr.employee"].create(
            {"name": "Twin", "vpbx_pbx_id": third.id, "vpbx_extension": "101"}
        )
        self.assertEqual(twin.vpbx_pbx_id, third)

    def test_history_import_and_calls_carry_their_account(self):
        task = self.env["vpbx.history.import"].create(
            {
                "pbx_id": self.pbx_b.id,
                "date_from": fields.Datetime.now() - timedelta(days=1),
                "date_to": fields.Datetime.now(),
            }
        )
        self.assertEqual(task.company_id, self.pbx_b.company_id)
        self.assertEqual(self.pbx_a.call_count, 0)
        self.post(call_payload("COUNT-1"), token=self.token_a)
        self.pbx_a.invalidate_recordset(["call_count", "last_webhook_at"])
        self.assertEqual(self.pbx_a.call_count, 1)
        self.assertTrue(self.pbx_a.last_webhook_at)


@tagged("post_install", "-at_install")
class TestSyncWhileAdminSaves(TransactionCase):
    """A real sync (its own cursors, committing page by page) while an administrator saves the
    company and the account again and again on another connection.

    The test transaction is invisible to other connections, so the fixture is committed on a
    connection of its own and removed at the end.
    """

    CALLS = 230  # five pages of 50

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sim = VpbxSimulator(api_key="sync-key", seed=7).start()
        cls.addClassCleanup(cls.sim.stop)
        now = int(time.time())
        cls.sim.generate_calls(cls.CALLS, start_ts=now - 3600, end_ts=now - 120, seed=7)
        cls.dbname = cls.env.cr.dbname
        with db_connect(cls.dbname).cursor() as cr:
            env = cls._real_env(cr)
            company = env["res.company"].create(
                {"name": f"VPBX sync {uuid.uuid4().hex[:8]}", "country_id": env.ref("base.vn").id}
            )
            pbx = env["vpbx.pbx"].create(
                {
                    "name": "Sync tenant",
                    "company_id": company.id,
                    "api_url": cls.sim.url,
                    "api_key": "sync-key",
                    "sync_overlap": 0,
                }
            )
            pbx._vpbx_client().get_token()  # cached on the account, as after the first request
            cr.commit()  # pylint: disable=invalid-commit
            env.ref("base.user_admin").company_ids = [Command.link(company.id)]
            cr.commit()  # pylint: disable=invalid-commit
            cls.company_id, cls.pbx_id = company.id, pbx.id
        cls.addClassCleanup(cls._remove_fixture)

    @classmethod
    def _real_env(cls, cr, uid=SUPERUSER_ID, context=None):
        return real_env(cls.registry, cr, uid, context)

    @classmethod
    def _remove_fixture(cls):
        with db_connect(cls.dbname).cursor() as cr:
            env = cls._real_env(cr)
            env["vpbx.pbx"].browse(cls.pbx_id).unlink()  # its calls and sync state cascade
            cr.commit()  # pylint: disable=invalid-commit
            remove_committed_company(env, cls.company_id)

    def test_no_serialization_error_no_page_lost(self):
        # every page takes a moment: the administrator saves while pages commit
        self.sim.inject_fault("history_v2", "slow", count=10, delay=0.4)
        outcome = {}

        registry = self.registry
        new_cursor = type(registry).cursor

        def cursor(self_registry):
            # the sync opens cursors of its own; their environments must not look the registry
            # up either (see _real_env)
            cr = new_cursor(self_registry)
            cr.transaction = api.Transaction(registry)
            return cr

        def sync():
            try:
                with (
                    patch.object(type(registry), "cursor", cursor),
                    db_connect(self.dbname).cursor() as cr,
                ):
                    env = self._real_env(cr)
                    pbx = env["vpbx.pbx"].browse(self.pbx_id)
                    outcome.update(env["vpbx.sync.state"]._vpbx_sync(pbx))
            except Exception as error:  # reported by the assertions below
                outcome["crash"] = error

        admin = self.env.ref("base.user_admin").id
        thread = threading.Thread(target=sync)
        thread.start()
        saves, errors, pages_seen = 0, [], set()
        while thread.is_alive() or saves < 3:
            try:
                with db_connect(self.dbname).cursor() as cr:
                    env = self._real_env(cr, admin, {"allowed_company_ids": [self.company_id]})
                    env["vpbx.pbx"].browse(self.pbx_id).write(
                        {"post_call_note": bool(saves % 2), "hotline": f"0283{saves:06d}"}
                    )
                    env["res.company"].browse(self.company_id).write({"phone": f"0283{saves:06d}"})
                    time.sleep(0.1)  # a request's transaction lasts a moment
                    cr.execute(
                        "SELECT next_page FROM vpbx_sync_state WHERE pbx_id = %s", [self.pbx_id]
                    )
                    pages_seen.update(row[0] for row in cr.fetchall())
                    cr.commit()  # pylint: disable=invalid-commit
                saves += 1
            except Exception as error:  # what the administrator would be shown
                errors.append(error)
                break
            if saves > 200:
                break
        thread.join(120)
        self.assertFalse(thread.is_alive(), "the sync ended")
        self.assertFalse(errors, "the administrator's saves never failed")
        self.assertGreaterEqual(saves, 3)
        self.assertTrue(pages_seen & {2, 3, 4, 5}, f"saved in the middle of a window: {pages_seen}")
        self.assertNotIn("crash", outcome)
        result = outcome[self.pbx_id]
        self.assertNotIn("error", result)
        self.assertEqual(result["count"], self.CALLS)
        self.assertEqual(result["new"], self.CALLS)
        self.assertGreaterEqual(result["pages"], 5)
        with db_connect(self.dbname).cursor() as cr:
            cr.execute(
                "SELECT count(DISTINCT vpbx_call_id) FROM vpbx_call WHERE pbx_id = %s",
                [self.pbx_id],
            )
            self.assertEqual(cr.fetchone()[0], self.CALLS, "no page lost")
            cr.execute(
                "SELECT next_page, cursor IS NOT NULL, last_error FROM vpbx_sync_state"
                " WHERE pbx_id = %s",
                [self.pbx_id],
            )
            self.assertEqual(cr.fetchone(), (0, True, None))
            cr.execute("SELECT hotline FROM vpbx_pbx WHERE id = %s", [self.pbx_id])
            self.assertEqual(cr.fetchone()[0], f"0283{saves - 1:06d}", "the last save holds")
