"""Two companies, two PBXs: keys, tokens, webhooks, contacts, employees and records stay apart.

Each company has its PBX account. Real HTTP to both accounts' webhook URLs and to two simulators
(one per account, each with its own API key); reads as users of one company through JSON-RPC.
"""

import logging

from odoo.addons.sentech_vpbx.tools.vpbx_simulator import VpbxSimulator
from odoo.tests import new_test_user, tagged
from odoo.tests.common import JsonRpcException
from odoo.tools import mute_logger

from ..const import GROUP_MANAGER as MANAGER
from ..const import GROUP_USER as USER
from .common import PBX_BUTTONS, VpbxWebhookCommon, call_payload, make_pbx
from .rpc_common import RpcAsUserMixin, password

KEY_A = "mc-Key-A-1187"
KEY_B = "mc-Key-B-2291"
# numbers of the contacts (0912 000 2xx) and the extensions (93xx) of these tests
NUM_A, NUM_B, NUM_SHARED, NUM_BOTH = "0912000202", "0912000201", "0912000203", "0912000204"


@tagged("post_install", "-at_install")
class TestMultiCompany(RpcAsUserMixin, VpbxWebhookCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sim_a = VpbxSimulator(api_key=KEY_A).start()
        cls.addClassCleanup(cls.sim_a.stop)
        cls.sim_b = VpbxSimulator(api_key=KEY_B).start()
        cls.addClassCleanup(cls.sim_b.stop)
        vietnam = cls.env.ref("base.vn")
        cls.company_a = cls.company
        cls.pbx_a = cls.pbx
        # the default time-out: Odoo's test harness logs the URL of requests with a shorter one
        cls.pbx_a.write({"api_url": cls.sim_a.url, "api_key": KEY_A})
        cls.company_b = cls.env["res.company"].create(
            {"name": "VPBX Company B", "country_id": vietnam.id}
        )
        cls.pbx_b = make_pbx(
            cls.env,
            company=cls.company_b,
            api_url=cls.sim_b.url,
            api_key=KEY_B,
            post_call_note=True,
        )
        cls.pbx_of = {cls.company_a: cls.pbx_a, cls.company_b: cls.pbx_b}
        cls.token_a = cls.token
        cls.token_b = cls.pbx_b.sudo().webhook_token

        def user(login, groups, companies):
            return new_test_user(
                cls.env,
                login=login,
                password=password(login),
                groups=groups,
                company_id=companies[0].id,
                company_ids=[(6, 0, [c.id for c in companies])],
            )

        cls.manager_a = user("mc_manager_a", f"base.group_user,{MANAGER}", cls.company_a)
        cls.user_b = user("mc_user_b", f"base.group_user,{USER}", cls.company_b)
        cls.manager_ab = user(
            "mc_manager_ab", f"base.group_user,{MANAGER}", cls.company_a | cls.company_b
        )

        Partner = cls.env["res.partner"]
        cls.partner_a = Partner.create(
            {"name": "Contact of A", "mobile": NUM_A, "company_id": cls.company_a.id}
        )
        cls.partner_b = Partner.create(
            {"name": "Contact of B", "mobile": NUM_B, "company_id": cls.company_b.id}
        )
        cls.partner_shared = Partner.create({"name": "Shared contact", "mobile": NUM_SHARED})
        cls.both_a = Partner.create(
            {"name": "Same number, A", "phone": NUM_BOTH, "company_id": cls.company_a.id}
        )
        cls.both_b = Partner.create(
            {"name": "Same number, B", "phone": NUM_BOTH, "company_id": cls.company_b.id}
        )
        Employee = cls.env["hr.employee"]
        cls.employee_a = Employee.create(
            {
                "name": "Agent of A",
                "company_id": cls.company_a.id,
                "vpbx_extension": "9302",
                "user_id": cls.manager_a.id,
            }
        )
        cls.employee_b = Employee.create(
            {
                "name": "Agent of B",
                "company_id": cls.company_b.id,
                "vpbx_extension": "9301",
                "user_id": cls.user_b.id,
            }
        )

    def setUp(self):
        super().setUp()
        self.sim_a.reset()
        self.sim_b.reset()

    # ------------------------------------------------------------------ helpers
    def call_of(self, company, call_id):
        return self.Call.search([("company_id", "=", company.id), ("vpbx_call_id", "=", call_id)])

    def deliver(self, company, call_id, number, extension="555", **fields):
        token = self.token_a if company == self.company_a else self.token_b
        response = self.post(
            call_payload(call_id, number=number, sip_user=extension, **fields), token=token
        )
        self.assertEqual(response.status_code, 200, response.text)
        event = self.Event.browse(response.json()["event_id"])
        self.assertEqual(event.state, "processed")
        self.assertEqual(event.pbx_id, self.pbx_of[company])
        self.assertEqual(event.company_id, company)
        call = self.call_of(company, call_id)
        self.assertEqual(len(call), 1)
        self.assertEqual(call.pbx_id, self.pbx_of[company])
        self.assertEqual(event.call_ids, call)
        return call

    def counts(self, company):
        domain = [("company_id", "=", company.id)]
        return self.Call.search_count(domain), self.Event.search_count(domain)

    # ------------------------------------------------------------------ webhooks
    def test_webhook_of_a_never_touches_b(self):
        before_b = self.counts(self.company_b)
        notes_b = len(self.notes(self.partner_b))
        # B's contact number, taken by B's extension: neither is A's
        call = self.deliver(self.company_a, "MC-1", NUM_B, extension="9301")
        self.assertEqual(call.company_id, self.company_a)
        self.assertFalse(call.partner_id)
        self.assertFalse(call.is_ambiguous)
        self.assertFalse(call.candidate_partner_ids)
        self.assertFalse(call.employee_id)
        self.assertFalse(call.user_id)
        self.assertEqual(self.counts(self.company_b), before_b)
        self.assertEqual(len(self.notes(self.partner_b)), notes_b)
        # a missed call of A with B's number: no activity for B's people either
        missed = self.deliver(self.company_a, "MC-1M", NUM_B, extension="9301", missed=True)
        self.assertFalse(missed.callback_activity_id)
        self.assertFalse(self.partner_b.activity_ids)
        self.assertEqual(self.counts(self.company_b), before_b)

    def test_contacts_and_employees_matched_in_own_company(self):
        expected = {
            # (company, number): contact linked
            (self.company_a, NUM_A): self.partner_a,
            (self.company_a, NUM_SHARED): self.partner_shared,
            (self.company_a, NUM_BOTH): self.both_a,
            (self.company_b, NUM_B): self.partner_b,
            (self.company_b, NUM_SHARED): self.partner_shared,
            (self.company_b, NUM_BOTH): self.both_b,
            (self.company_b, NUM_A): self.env["res.partner"],
        }
        for index, ((company, number), partner) in enumerate(expected.items()):
            with self.subTest(company=company.name, number=number):
                call = self.deliver(company, f"MC-P{index}", number)
                self.assertEqual(call.partner_id, partner)
                self.assertFalse(call.is_ambiguous, "the other company's contact is no candidate")
        # the extension finds the employee of the call's company only
        call = self.deliver(self.company_a, "MC-E1", NUM_A, extension="9302")
        self.assertEqual(call.employee_id, self.employee_a)
        self.assertEqual(call.user_id, self.manager_a)
        call = self.deliver(self.company_b, "MC-E2", NUM_B, extension="9302")
        self.assertFalse(call.employee_id)
        call = self.deliver(self.company_b, "MC-E3", NUM_B, extension="9301")
        self.assertEqual(call.employee_id, self.employee_b)
        self.assertEqual(call.user_id, self.user_b)
        # B's calls were noted on B's contact; no call of A ever points to a contact of B
        self.assertTrue(self.notes(self.partner_b))
        for partner in (self.partner_b, self.both_b):
            self.assertFalse(
                self.Call.search_count(
                    [("company_id", "=", self.company_a.id), ("partner_id", "=", partner.id)]
                )
            )

    def test_same_pbx_call_id_in_both_companies(self):
        call_a = self.deliver(self.company_a, "MC-SAME", NUM_A)
        call_b = self.deliver(self.company_b, "MC-SAME", NUM_B)
        self.assertNotEqual(call_a, call_b)
        self.assertEqual(call_a.partner_id, self.partner_a)
        self.assertEqual(call_b.partner_id, self.partner_b)
        # a repeat to A's URL updates A's call only
        self.deliver(self.company_a, "MC-SAME", NUM_A, bill_sec=5)
        self.assertEqual(call_a.talk_duration, 5)
        self.assertEqual(call_b.talk_duration, 60)

    def test_webhook_tokens_per_company(self):
        self.assertNotEqual(self.token_a, self.token_b)
        Pbx = self.env["vpbx.pbx"]
        self.assertEqual(Pbx._vpbx_from_webhook_token(self.token_a), self.pbx_a)
        self.assertEqual(Pbx._vpbx_from_webhook_token(self.token_b), self.pbx_b)
        self.pbx_a.action_regenerate_webhook_token()
        new_a = self.pbx_a.sudo().webhook_token
        self.assertEqual(self.post(call_payload("MC-T1"), token=self.token_a).status_code, 403)
        self.assertEqual(self.post(call_payload("MC-T2"), token=new_a).status_code, 200)
        self.assertEqual(self.post(call_payload("MC-T3"), token=self.token_b).status_code, 200)
        self.assertEqual(self.pbx_b.sudo().webhook_token, self.token_b)
        self.assertTrue(self.call_of(self.company_a, "MC-T2"))
        self.assertTrue(self.call_of(self.company_b, "MC-T3"))
        self.assertFalse(self.call_of(self.company_b, "MC-T2"))
        # B's token stores on B's account only
        (event_b,) = self.Event.search([("vpbx_call_id", "=", "MC-T3")])
        self.assertEqual(event_b.pbx_id, self.pbx_b)
        self.assertEqual(self.call_of(self.company_b, "MC-T3").pbx_id, self.pbx_b)
        self.assertFalse(self.call_of(self.company_a, "MC-T3"))

    def test_webhook_token_not_in_access_log(self):
        """Odoo's access log line of a delivery, as werkzeug writes it, hides the token."""
        logger = logging.getLogger("werkzeug")
        hiders = [f for f in logger.filters if type(f).__name__ == "HideWebhookToken"]
        self.assertEqual(len(hiders), 1)
        prefix = "127.0.0.1 - - [10/Mar/2025 10:00:00]"
        for status, token in (("200", self.token_b), ("403", self.token_a + "x")):
            record = logging.LogRecord(
                "werkzeug",
                logging.INFO,
                __file__,
                0,
                prefix + ' "%s" %s %s',
                (f"POST /vpbx/webhook/{token} HTTP/1.1", status, "-"),
                None,
            )
            self.assertTrue(hiders[0].filter(record))
            self.assertEqual(
                record.getMessage(),
                f'{prefix} "POST /vpbx/webhook/*** HTTP/1.1" {status} -',
            )

    # ------------------------------------------------------------------ keys and tokens
    def test_each_company_uses_its_own_key_and_token(self):
        self.pbx_a._vpbx_client().list_agents(size=1)
        self.pbx_b._vpbx_client().list_agents(size=1)
        # each PBX accepted its own account's key once (a wrong key is refused by the PBX)
        self.assertEqual((self.sim_a.auth_count, self.sim_b.auth_count), (1, 1))
        token_a = self.pbx_a.sudo().access_token
        token_b = self.pbx_b.sudo().access_token
        self.assertTrue(token_a and token_b)
        self.assertNotEqual(token_a, token_b)
        self.assertIn(token_a, self.sim_a.tokens)
        self.assertIn(token_b, self.sim_b.tokens)
        # the cached token is reused, each on its own PBX
        self.pbx_a._vpbx_client().list_agents(size=1)
        self.pbx_b._vpbx_client().list_agents(size=1)
        self.assertEqual((self.sim_a.auth_count, self.sim_b.auth_count), (1, 1))
        for sim, token in ((self.sim_a, token_a), (self.sim_b, token_b)):
            used = {
                entry["headers"].get("Authorization")
                for entry in sim.requests_log
                if entry["endpoint"] == "agent_list"
            }
            self.assertEqual(used, {f"Bearer {token}"})
        # a new key for A drops A's token only
        self.pbx_a.api_key = KEY_A
        self.assertFalse(self.pbx_a.sudo().access_token)
        self.assertEqual(self.pbx_b.sudo().access_token, token_b)

    # ------------------------------------------------------------------ record rules
    def test_user_of_a_cannot_reach_b(self):
        call_a = self.deliver(self.company_a, "MC-R1", NUM_A)
        call_b = self.deliver(self.company_b, "MC-R2", NUM_B)
        event_b = call_b.sudo().webhook_event_ids
        import_b = self.env["vpbx.history.import"].create({"pbx_id": self.pbx_b.id})
        state_b = self.env["vpbx.sync.state"]._vpbx_state_of(self.pbx_b)
        key_b = self.env["vpbx.partner.phone"].search([("partner_id", "=", self.partner_b.id)])
        self.assertTrue(event_b and key_b)
        user = self.manager_a
        found = self.rpc(user, "vpbx.call", "search_read", [[], ["company_id"]])
        self.assertIn(call_a.id, [record["id"] for record in found])
        self.assertEqual({record["company_id"][0] for record in found}, {self.company_a.id})
        self.assertDenied(user, "vpbx.call", "read", [call_b.ids, ["customer_number"]])
        self.assertDenied(user, "vpbx.call", "message_post", [call_b.ids], {"body": "x"})
        events = self.rpc(user, "vpbx.webhook.event", "search_read", [[], ["company_id"]])
        self.assertNotIn(event_b.id, [record["id"] for record in events])
        self.assertDenied(user, "vpbx.webhook.event", "read", [event_b.ids, ["body"]])
        self.assertDenied(user, "vpbx.webhook.event", "action_vpbx_replay", [event_b.ids])
        self.assertDenied(user, "vpbx.history.import", "read", [import_b.ids, ["state"]])
        self.assertDenied(user, "vpbx.history.import", "action_start", [import_b.ids])
        self.assertFalse(
            self.rpc(user, "vpbx.history.import", "search", [[("id", "=", import_b.id)]])
        )
        self.assertDenied(user, "vpbx.partner.phone", "read", [key_b.ids, ["key"]])
        self.assertFalse(
            self.rpc(
                user, "vpbx.partner.phone", "search", [[("partner_id", "=", self.partner_b.id)]]
            )
        )
        # B's PBX account: invisible, its secrets unreadable, its buttons refused
        accounts = self.rpc(user, "vpbx.pbx", "search_read", [[], ["company_id"]])
        self.assertIn(self.pbx_a.id, [record["id"] for record in accounts])
        self.assertNotIn(self.pbx_b.id, [record["id"] for record in accounts])
        self.assertEqual({record["company_id"][0] for record in accounts}, {self.company_a.id})
        self.assertFalse(
            self.rpc(user, "vpbx.pbx", "search", [[("company_id", "=", self.company_b.id)]])
        )
        for fname in ("name", "api_key", "webhook_token", "webhook_url"):
            with self.subTest(field=fname):
                self.assertDenied(user, "vpbx.pbx", "read", [self.pbx_b.ids, [fname]])
        self.assertDenied(user, "vpbx.pbx", "write", [self.pbx_b.ids, {"api_key": "x"}])
        self.assertDenied(user, "vpbx.sync.state", "read", [state_b.ids, ["cursor"]])
        for method in PBX_BUTTONS:
            with self.subTest(method=method):
                self.assertDenied(user, "vpbx.pbx", method, [self.pbx_b.ids])
        pbx_b = self.pbx_b.sudo()
        self.assertEqual(pbx_b.webhook_token, self.token_b)
        self.assertEqual(pbx_b.api_key, KEY_B)
        self.assertFalse(self.sim_b.requests_log)
        # while A's own account answers its manager
        self.rpc(user, "vpbx.pbx", "action_test_connection", [self.pbx_a.ids])
        self.assertTrue(self.sim_a.requests_log)

    def test_vpbx_user_of_b_sees_unassigned_calls_of_b_only(self):
        call_a = self.deliver(self.company_a, "MC-U1", NUM_SHARED)
        call_b = self.deliver(self.company_b, "MC-U2", NUM_SHARED)
        own_b = self.deliver(self.company_b, "MC-U3", NUM_B, extension="9301")
        self.assertFalse(call_a.user_id or call_b.user_id)
        ids = (call_a | call_b | own_b).ids
        found = self.rpc(self.user_b, "vpbx.call", "search", [[("id", "in", ids)]])
        self.assertEqual(sorted(found), sorted((call_b | own_b).ids))
        self.assertDenied(self.user_b, "vpbx.call", "read", [call_a.ids, ["customer_number"]])
        # B's PBX account is readable by B's VPBX user, A's is not
        found = self.rpc(self.user_b, "vpbx.pbx", "search", [[]])
        self.assertIn(self.pbx_b.id, found)
        self.assertNotIn(self.pbx_a.id, found)
        self.assertDenied(self.user_b, "vpbx.pbx", "read", [self.pbx_a.ids, ["name"]])

    def test_user_of_both_companies_follows_the_selected_ones(self):
        call_a = self.deliver(self.company_a, "MC-S1", NUM_A)
        call_b = self.deliver(self.company_b, "MC-S2", NUM_B)
        ids = (call_a | call_b).ids
        user = self.manager_ab
        for allowed, expected in (
            ([self.company_a.id], call_a),
            ([self.company_b.id], call_b),
            ([self.company_a.id, self.company_b.id], call_a | call_b),
        ):
            with self.subTest(allowed=allowed):
                found = self.rpc(
                    user,
                    "vpbx.call",
                    "search",
                    [[("id", "in", ids)]],
                    {"context": {"allowed_company_ids": allowed}},
                )
                self.assertEqual(sorted(found), sorted(expected.ids))
                accounts = self.rpc(
                    user,
                    "vpbx.pbx",
                    "search",
                    [[("id", "in", (self.pbx_a | self.pbx_b).ids)]],
                    {"context": {"allowed_company_ids": allowed}},
                )
                self.assertEqual(
                    sorted(accounts),
                    sorted(self.pbx_of[company].id for company in expected.company_id),
                )
        # no company of the user's may be forced through the context
        with mute_logger("odoo.http"), self.assertRaises(JsonRpcException):
            self.rpc(
                self.manager_a,
                "vpbx.call",
                "search",
                [[("id", "in", ids)]],
                {"context": {"allowed_company_ids": [self.company_b.id]}},
            )
