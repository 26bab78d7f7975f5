"""Ring-time routing over real HTTP: GET /vpbx/route/<token>?phoneNumber=&sipNumber= answers
the owner's extension as text/plain, an empty body for anything doubtful, always 200, and logs
every answer."""

import time
from unittest.mock import patch

import requests

from odoo.addons.sentech_vpbx.models import batched_rows, route_lookup
from odoo.addons.sentech_vpbx.models.batched_rows import BatchedRows
from odoo.addons.sentech_vpbx.models.vpbx_route import KEPT, LOG_ROWS, VpbxRoute
from odoo.addons.sentech_vpbx.models.vpbx_route_log import LOG_INSERT_MANY
from odoo.addons.sentech_vpbx.services.routing import caller_keys, join_extensions
from odoo.addons.sentech_vpbx.tools.vpbx_simulator import HOTLINES, VpbxSimulator
from odoo.tests import BaseCase, HttpCase, new_test_user, tagged
from odoo.tools import mute_logger

from .common import ConcurrentWebhookCase, make_pbx

NUMBER = "0912345678"
#: every way the PBX or a person writes NUMBER
WRITINGS = [
    "0912345678",
    "84912345678",
    "+84912345678",
    "0084912345678",
    "+84 912 345 678",
    "0912 345 678",
    "0912.345.678",
    "(+84) 912345678",
    "+84 (0) 912 345 678",
]


class TestRoutingService(BaseCase):
    def test_caller_keys(self):
        self.assertEqual(caller_keys("0912 345 678", "VN"), ("+84912345678",))
        self.assertEqual(caller_keys("01683456789", "VN"), ("+84383456789",))
        for bad in (None, "", "   ", "abc", "0912abc678", "1" * 40, "0912;ext=1", 912345678):
            with self.subTest(bad=bad):
                self.assertEqual(caller_keys(bad, "VN"), ())

    def test_join_extensions(self):
        self.assertEqual(join_extensions(["101", "102", "101", None, ""]), "101:102")
        self.assertEqual(join_extensions(["1:2", "10 1", "103"]), "103")
        self.assertEqual(join_extensions([str(n) for n in range(100, 130)]).count(":"), 9)


@tagged("post_install", "-at_install")
class TestRouting(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.company.country_id = cls.env.ref("base.vn")
        cls.pbx = make_pbx(cls.env, name="Routing PBX")
        cls.token = cls.pbx.sudo().webhook_token
        cls.other_pbx = make_pbx(cls.env, name="Other PBX", sequence=5)
        # demo records must not own the numbers of these tests
        keys = cls.env["vpbx.partner.phone"].search([("key", "=like", "+84%")])
        keys.partner_id.write({"phone": False, "mobile": False})
        lead_keys = cls.env["vpbx.lead.phone"].search([("key", "=like", "+84%")])
        lead_keys.lead_id.write({"phone": False, "mobile": False})
        groups = "base.group_user,sales_team.group_sale_salesman"
        cls.users = {}
        for login, extension, pbx in (
            ("owner", "501", cls.pbx),
            ("contact_owner", "502", cls.pbx),
            ("mate", "503", cls.pbx),
            ("no_extension", None, cls.pbx),
            ("elsewhere", "504", cls.other_pbx),
        ):
            user = new_test_user(cls.env, login=f"vpbx_route_{login}", groups=groups)
            cls.users[login] = user
            if extension:
                cls.env["hr.employee"].create(
                    {
                        "name": login,
                        "user_id": user.id,
                        "vpbx_extension": extension,
                        "vpbx_pbx_id": pbx.id,
                    }
                )
        cls.team = cls.env["crm.team"].create(
            {
                "name": "Routing team",
                "crm_team_member_ids": [
                    (0, 0, {"user_id": cls.users["owner"].id}),
                    (0, 0, {"user_id": cls.users["mate"].id}),
                ],
            }
        )
        cls.partner = cls.env["res.partner"].create(
            {
                "name": "Khách quen",
                "mobile": "0912 345 678",
                "user_id": cls.users["contact_owner"].id,
            }
        )

    def route(self, number=None, hotline="842888806669", token=None, key=None, raw_query=None):
        query = raw_query
        if query is None:
            params = {"sipNumber": hotline}
            if number is not None:
                params["phoneNumber"] = number
            query = "&".join(f"{k}={v}" for k, v in params.items())
            query = query.replace("+", "%2B").replace(" ", "%20")
        headers = {"X-API-KEY": key} if key is not None else {}
        response = self.url_open(f"/vpbx/route/{token or self.token}?{query}", headers=headers)
        self.assertEqual(response.status_code, 200)
        self.assertTrue(response.headers["Content-Type"].startswith("text/plain"))
        return response.text

    def last_log(self):
        return self.env["vpbx.route.log"].search([], limit=1)

    # ------------------------------------------------------------------ who owns the caller

    def test_contact_salesperson_every_writing(self):
        for writing in WRITINGS:
            with self.subTest(writing=writing):
                self.assertEqual(self.route(writing), "502")
        log = self.last_log()
        self.assertEqual(log.reason, "owner")
        self.assertEqual(log.user_id, self.users["contact_owner"])
        self.assertEqual(log.pbx_id, self.pbx)
        self.assertEqual(log.extensions, "502")

    def test_old_and_new_forms(self):
        self.partner.mobile = "0168 345 6789"
        self.assertEqual(self.route("0383456789"), "502")
        self.assertEqual(self.route("01683456789"), "502")

    def test_opportunity_owner_first_then_team(self):
        opportunity = self.env["crm.lead"].create(
            {
                "name": "Big deal",
                "type": "opportunity",
                "partner_id": self.partner.id,
                "user_id": self.users["owner"].id,
                "team_id": self.team.id,
            }
        )
        self.assertEqual(self.route(NUMBER), "501")
        self.pbx.route_team_members = True
        self.assertEqual(self.route(NUMBER), "501:503")
        self.assertEqual(self.last_log().reason, "owner_team")
        opportunity.action_set_lost()
        self.assertEqual(self.route(NUMBER), "502", "a lost opportunity owns nobody")

    def test_lead_carrying_the_number(self):
        self.env["crm.lead"].create(
            {
                "name": "Lead",
                "type": "lead",
                "phone": "0988 777 666",
                "user_id": self.users["mate"].id,
            }
        )
        self.assertEqual(self.route("84988777666"), "503")

    def test_owner_without_extension(self):
        self.partner.user_id = self.users["no_extension"]
        self.assertEqual(self.route(NUMBER), "")
        self.assertEqual(self.last_log().reason, "no_extension")
        # an extension on another PBX account of the company is not one of this account's
        self.partner.user_id = self.users["elsewhere"]
        self.assertEqual(self.route(NUMBER), "")

    def test_twenty_owners_one_rule(self):
        numbers_owners = []
        for index in range(20):
            user = new_test_user(
                self.env, login=f"vpbx_route_many_{index}", groups="base.group_user"
            )
            self.env["hr.employee"].create(
                {
                    "name": f"many {index}",
                    "user_id": user.id,
                    "vpbx_extension": f"6{index:02d}",
                    "vpbx_pbx_id": self.pbx.id,
                }
            )
            numbers_owners.append(user)
            self.env["res.partner"].create(
                {"name": f"Shared {index}", "phone": "0977 555 444", "user_id": user.id}
            )
        # contacts only: the oldest contact's salesperson
        self.assertEqual(self.route("0977555444"), "600")
        leads = self.env["crm.lead"].create(
            [
                {
                    "name": f"Opp {i}",
                    "type": "opportunity",
                    "phone": "0977555444",
                    "user_id": numbers_owners[i].id,
                }
                for i in range(20)
            ]
        )
        self.env.cr.execute(
            "UPDATE crm_lead SET write_date = now() + interval '1 hour' WHERE id = %s",
            [leads[7].id],
        )
        # opportunities first: the most recently updated one
        self.assertEqual(self.route("0977555444"), "607")

    # ------------------------------------------------------------------ bad input: empty answer

    def test_bad_input_empty_answer(self):
        cases = {
            "no number": {"raw_query": "sipNumber=842888806669"},
            "empty number": {"number": ""},
            "letters": {"number": "abcdefghij"},
            "letters in it": {"number": "0912abc678"},
            "40 digits": {"number": "1" * 40},
            "unknown number": {"number": "0911000111"},
            "bad token": {"number": NUMBER, "token": "not-a-token"},
            "long token": {"number": NUMBER, "token": "x" * 300},
        }
        for label, kwargs in cases.items():
            with self.subTest(label):
                self.assertEqual(self.route(**kwargs), "")
        reasons = self.env["vpbx.route.log"].search([], limit=len(cases)).mapped("reason")
        self.assertEqual(sorted(set(reasons)), ["bad_number", "bad_token", "no_number", "no_owner"])

    def test_api_key(self):
        self.pbx.route_api_key = "s3cret"
        self.assertEqual(self.route(NUMBER), "", "no key")
        self.assertEqual(self.route(NUMBER, key="wrong"), "")
        self.assertEqual(self.last_log().reason, "bad_key")
        self.assertEqual(self.route(NUMBER, key="s3cret"), "502")

    def test_switched_off(self):
        self.pbx.route_enabled = False
        self.assertEqual(self.route(NUMBER), "")
        self.assertEqual(self.last_log().reason, "disabled")

    def test_respects_account_and_company(self):
        other_company = self.env["res.company"].create(
            {"name": "Chi nhánh Hà Nội", "country_id": self.env.ref("base.vn").id}
        )
        other = make_pbx(self.env, other_company, name="Hanoi PBX")
        self.assertEqual(self.route(NUMBER, token=other.sudo().webhook_token), "")
        self.partner.company_id = other_company
        self.assertEqual(self.route(NUMBER), "", "a contact of another company")
        self.assertEqual(self.route(NUMBER, token=self.other_pbx.sudo().webhook_token), "")

    @mute_logger("odoo.addons.sentech_vpbx.models.vpbx_route")
    def test_error_is_empty_answer(self):
        with patch.object(VpbxRoute, "_vpbx_route", side_effect=RuntimeError("boom")):
            self.assertEqual(self.route(NUMBER), "")
        self.assertEqual(self.last_log().reason, "error")

    def test_log_readable_by_managers_only(self):
        self.route(NUMBER)
        manager = new_test_user(
            self.env,
            login="vpbx_route_mgr",
            groups="base.group_user,sentech_vpbx.group_vpbx_manager",
        )
        self.assertTrue(self.env["vpbx.route.log"].with_user(manager).search([]))
        self.assertFalse(
            self.env["vpbx.route.log"].with_user(self.users["owner"]).has_access("read")
        )


@tagged("post_install", "-at_install")
class TestSimulatorAsksOdoo(HttpCase):
    """The simulator asks Odoo's routing URL when it rings, as the PBX does (./dev start)."""

    def test_ring_rings_the_salesperson(self):
        company = self.env.company
        company.country_id = self.env.ref("base.vn")
        pbx = make_pbx(self.env, name="Sim routing PBX")
        self.env["vpbx.partner.phone"].search([("key", "=", "+84938246810")]).partner_id.write(
            {"phone": False, "mobile": False}
        )
        user = new_test_user(self.env, login="vpbx_route_sim", groups="base.group_user")
        self.env["hr.employee"].create(
            {
                "name": "Sim owner",
                "user_id": user.id,
                "vpbx_extension": "777",
                "vpbx_pbx_id": pbx.id,
            }
        )
        self.env["res.partner"].create(
            {"name": "Sim caller", "mobile": "0938 246 810", "user_id": user.id}
        )
        sim = VpbxSimulator(seed=3)
        sim.route_url = f"{self.base_url()}/vpbx/route/{pbx.sudo().webhook_token}"
        events = sim.ring_events("101", "0938246810")
        self.assertEqual(sim.route_answers, [("0938246810", HOTLINES[0], ["777"])])
        self.assertEqual(events[0][1]["users_status"][0]["extension"], "777")
        self.assertEqual(events[1][1]["sip_user"], "777", "the salesperson answers")
        # an unknown caller: the PBX's own choice
        events = sim.ring_events("101", "0911222333")
        self.assertEqual(sim.route_answers[-1][2], [])
        self.assertEqual(events[0][1]["users_status"][0]["extension"], "101")


@tagged("post_install", "-at_install")
class TestRoutingOnKeptConnection(ConcurrentWebhookCase):
    """As in production (not the test runner's one transaction), the lookup and the log run on
    the connection the process keeps, prepared once; when that connection dies the request's
    own cursor answers, and a new one is opened later."""

    @classmethod
    def _vpbx_fixture(cls, env, company, pbx):
        admin = env.ref("base.user_admin")
        cls.employee_id = (
            env["hr.employee"]
            .create(
                {
                    "name": "Kept routing owner",
                    "user_id": admin.id,
                    "company_id": company.id,
                    "vpbx_pbx_id": pbx.id,
                    "vpbx_extension": "601",
                }
            )
            .id
        )
        cls.partner_id = (
            env["res.partner"]
            .create({"name": "Kept routing caller", "mobile": "0912 601 601", "user_id": admin.id})
            .id
        )

    @classmethod
    def _vpbx_remove_fixture(cls, env):
        KEPT.close(cls.dbname)
        env["hr.employee"].browse(cls.employee_id).unlink()
        env["res.partner"].browse(cls.partner_id).unlink()

    def route(self):
        response = requests.get(
            f"{self.base_url()}/vpbx/route/{self.token}?phoneNumber=84912601601"
            "&sipNumber=842888806669",
            timeout=10,
        )
        self.assertEqual(response.status_code, 200)
        return response.text

    def test_answers_on_the_kept_connection_and_without_it(self):
        LOG_ROWS.flush(self.dbname)
        before = len(self.logged())
        KEPT.close(self.dbname)
        self.assertEqual(self.route(), "601")
        kept = KEPT._connections.get(self.dbname)
        self.assertTrue(kept and not kept.closed, "the answer came from the kept connection")
        with kept.cursor() as cr:
            cr.execute("SELECT name FROM pg_prepared_statements ORDER BY name")
            prepared = [row[0] for row in cr.fetchall()]
        self.assertEqual(prepared, ["vpbx_route_log_many", "vpbx_route_lookup"])
        self.assertEqual(self.route(), "601")
        self.assertIs(KEPT._connections.get(self.dbname), kept, "kept, not opened again")
        # the kept connection dies (a PostgreSQL restart, an idle time-out)
        with self.committed() as env:
            env.cr.execute("SELECT pg_terminate_backend(%s, 5000)", [kept.get_backend_pid()])
        self.assertEqual(self.route(), "601", "the request's cursor answered")
        self.assertIn(self.dbname, KEPT._failed_at)
        self.assertNotIn(self.dbname, KEPT._connections)
        self.assertEqual(self.route(), "601", "still the request's cursor, for a while")
        self.assertNotIn(self.dbname, KEPT._connections)
        with patch.object(route_lookup, "RETRY_AFTER", 0.0):
            self.assertEqual(self.route(), "601")
        self.assertIn(self.dbname, KEPT._connections, "a new kept connection")
        # the rows kept before the connection died went through a connection of the pool
        LOG_ROWS.flush(self.dbname)
        self.assertEqual(self.logged(), ["owner"] * (before + 5), "every answer logged once")

    def logged(self):
        with self.committed() as env:
            logs = env["vpbx.route.log"].search([("pbx_id", "=", self.pbx_id)])
            self.assertEqual(set(logs.mapped("extensions")), {"601"} if logs else set())
            return logs.mapped("reason")

    def test_answers_logged_within_a_second(self):
        """The answers' rows wait in the process, then its writer thread stores them."""
        LOG_ROWS.flush(self.dbname)
        before = len(self.logged())
        for _index in range(3):
            self.assertEqual(self.route(), "601")
        deadline = time.monotonic() + 5 * batched_rows.FLUSH_EVERY
        while len(self.logged()) < before + 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(len(self.logged()), before + 3, "written by the thread, in time")
        self.assertEqual(LOG_ROWS.pending(self.dbname), 0)

    def test_log_rows_written_many_at_once(self):
        """FLUSH_ROWS waiting rows are written at once, in one statement; fewer wait."""
        row = {
            "pbx": self.pbx_id,
            "company": None,
            "caller": "0912 601 601",
            "hotline": None,
            "extensions": "601",
            "reason": "owner",
            "user": None,
            "ms": 0.5,
        }
        LOG_ROWS.flush(self.dbname)
        before = self.logged()
        # a writer thread of its own that does not wake during the test
        with (
            patch.object(batched_rows, "FLUSH_EVERY", 600.0),
            patch.object(batched_rows, "FLUSH_ROWS", 3),
            self.committed() as env,
        ):
            rows = BatchedRows(KEPT, "vpbx_route_log_many", LOG_INSERT_MANY)
            for _index in range(2):
                self.assertTrue(rows.add(env, row))
            self.assertEqual(rows.pending(self.dbname), 2)
            self.assertEqual(self.logged(), before, "waiting")
            self.assertTrue(rows.add(env, row))
            self.assertEqual(rows.pending(self.dbname), 0)
            self.assertEqual(self.logged(), before + ["owner"] * 3, "written together")
