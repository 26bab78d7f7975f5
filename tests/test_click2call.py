"""Click-to-call from contacts, employees and calls, against the simulator over loopback."""

import time

from odoo.addons.sentech_vpbx.tools.vpbx_simulator import HOTLINES, VpbxSimulator
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tests.common import JsonRpcException
from odoo.tools import mute_logger

from .common import make_pbx

KEY = "c2c-sim-key"
EXT = "7101"
MOBILE = "0903 111 222"
MOBILE_NATIONAL = "0903111222"
LOGGER = "odoo.addons.sentech_vpbx.models.vpbx_click2call"


@tagged("post_install", "-at_install")
class TestClick2call(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sim = VpbxSimulator(api_key=KEY, seed=6).start()
        cls.addClassCleanup(cls.sim.stop)
        cls.company = cls.env.company
        cls.company.country_id = cls.env.ref("base.vn")
        cls.pbx = make_pbx(
            cls.env,
            api_url=cls.sim.url,
            api_key=KEY,
            timeout=5,
            hotline=HOTLINES[0],
            click2call_number_format="national",
            click2call_match_minutes=10,
        )
        cls.token = cls.pbx.sudo().webhook_token
        cls.sales = new_test_user(
            cls.env,
            login="c2c_sales",
            password="c2c_sales_pw1",
            groups="base.group_user,sentech_vpbx.group_vpbx_user",
        )
        cls.plain = new_test_user(
            cls.env, login="c2c_plain", password="c2c_plain_pw1", groups="base.group_user"
        )
        cls.nobody = new_test_user(
            cls.env,
            login="c2c_nobody",
            password="c2c_nobody_pw1",
            groups="base.group_user,sentech_vpbx.group_vpbx_user",
        )
        Employee = cls.env["hr.employee"]
        cls.employee = Employee.create(
            {
                "name": "Sales Agent",
                "user_id": cls.sales.id,
                "company_id": cls.company.id,
                "vpbx_extension": EXT,
            }
        )
        cls.colleague = Employee.create(
            {
                "name": "Colleague",
                "company_id": cls.company.id,
                "mobile_phone": "0977 000 111",
                "work_phone": "+84 28 3823 4567",
            }
        )
        cls.partner = cls.env["res.partner"].create(
            {"name": "Trần Thị Lan", "mobile": MOBILE, "phone": "abc"}
        )
        cls.Call = cls.env["vpbx.call"]

    def setUp(self):
        super().setUp()
        self.sim.reset()
        self.sim.add_agent("Sales Agent", "c2c_sales@example.com", extension=EXT)

    # ------------------------------------------------------------------ helpers
    def click2call_requests(self):
        return [r["json"] for r in self.sim.calls_for("click2call")]

    def pending_calls(self):
        return self.Call.search([("pbx_id", "=", self.pbx.id), ("vpbx_click2call", "=", True)])

    def call_mobile(self, user=None):
        return self.partner.with_user(user or self.sales).action_vpbx_call_mobile()

    def push(self, record):
        url = f"{self.base_url()}/vpbx/webhook/{self.token}"
        statuses = self.sim.push(url, [record])
        self.env.invalidate_all()
        return statuses

    def assertRefused(self, expected, reaches_pbx=True):
        with mute_logger(LOGGER), self.assertRaises(UserError) as cm:
            self.call_mobile()
        message = str(cm.exception)
        for text in expected:
            self.assertIn(text, message)
        self.assertFalse(self.pending_calls(), "a refused call is not logged")
        self.assertEqual(bool(self.click2call_requests()), reaches_pbx)
        return message

    # ------------------------------------------------------------------ success
    def test_call_contact_mobile(self):
        action = self.call_mobile()
        self.assertEqual(action["tag"], "display_notification")
        self.assertEqual(action["params"]["message"], "Calling 0903 111 222 — pick up your phone")
        self.assertEqual(
            self.click2call_requests(),
            [{"extension": EXT, "hotline": HOTLINES[0], "phone_number": MOBILE_NATIONAL}],
        )
        call_uuid = next(iter(self.sim.calls))
        call = self.pending_calls()
        self.assertEqual(len(call), 1)
        self.assertEqual(call.call_uuid, call_uuid)
        self.assertEqual(call.vpbx_call_id, call_uuid)
        self.assertEqual(call.pbx_id, self.pbx)
        self.assertEqual(call.company_id, self.company)
        self.assertEqual(call.status, "calling")
        self.assertEqual(call.direction, "outbound")
        self.assertFalse(call.is_final)
        self.assertEqual(call.partner_id, self.partner)
        self.assertEqual(call.employee_id, self.employee)
        self.assertEqual(call.user_id, self.sales)
        self.assertEqual(call.extension, EXT)
        self.assertEqual(call.hotline, HOTLINES[0])
        self.assertEqual(call.customer_number_normalized, "+84903111222")
        # the caller sees their call
        self.assertEqual(self.Call.with_user(self.sales).search([("id", "=", call.id)]), call)

    def test_number_formats_and_employee_hotline(self):
        self.employee.vpbx_hotline = HOTLINES[1]
        self.pbx.click2call_number_format = "e164"
        self.call_mobile()
        self.pbx.click2call_number_format = "e164_no_plus"
        self.call_mobile()
        sent = self.click2call_requests()
        self.assertEqual([r["phone_number"] for r in sent], ["+84903111222", "84903111222"])
        self.assertEqual({r["hotline"] for r in sent}, {HOTLINES[1]})
        self.assertEqual(len(self.pending_calls()), 2)

    def test_call_employee_and_call_back(self):
        # a sales user without HR rights opens the colleague through the public profile
        action = self.colleague.with_user(self.sales).action_vpbx_call_mobile_phone()
        self.assertEqual(action["params"]["message"], "Calling 0977 000 111 — pick up your phone")
        public = self.env["hr.employee.public"].browse(self.colleague.id).with_user(self.sales)
        public.action_vpbx_call_work_phone()
        self.assertEqual(
            [r["phone_number"] for r in self.click2call_requests()], ["0977000111", "02838234567"]
        )
        done = self.Call.create(
            {
                "vpbx_call_id": "c2c-earlier",
                "pbx_id": self.pbx.id,
                "direction": "inbound",
                "status": "missed",
                "is_final": True,
                "customer_number": "84903111222",
                "partner_id": self.partner.id,
            }
        )
        done.with_user(self.sales).action_vpbx_call_back()
        self.assertEqual(self.click2call_requests()[-1]["phone_number"], MOBILE_NATIONAL)
        back = self.pending_calls().filtered(lambda c: c.partner_id == self.partner)
        self.assertEqual(len(back), 1)
        self.assertEqual(back.status, "calling")

    # ------------------------------------------------------------------ errors
    def test_softphone_not_registered(self):
        self.sim.set_extension(EXT, registered=False)
        self.assertRefused(
            ["Cannot call 0903 111 222", "softphone is not logged in", "(user_not_registered)"]
        )

    def test_extension_busy(self):
        self.sim.set_extension(EXT, busy=True)
        self.assertRefused(["busy on another call", "(user_busy)"])

    def test_do_not_call(self):
        self.sim.do_not_call.add(MOBILE_NATIONAL)
        self.assertRefused(["do-not-call list", "(do_not_call)"])

    def test_number_call_out_invalid(self):
        self.pbx.hotline = "842899999999"
        self.assertRefused(["cannot be called out", "(number_call_out_invalid)"])

    def test_invalid_number_never_reaches_pbx(self):
        with self.assertRaises(UserError) as cm:
            self.partner.with_user(self.sales).action_vpbx_call_phone()
        self.assertIn("abc is not a valid phone number", str(cm.exception))
        self.partner.mobile = "12"
        self.assertRefused(["12 is not a valid phone number"], reaches_pbx=False)

    def test_no_extension(self):
        self.employee.vpbx_extension = False
        self.assertRefused(["has no VPBX extension"], reaches_pbx=False)
        with self.assertRaises(UserError) as cm:
            self.call_mobile(self.nobody)
        self.assertIn("not linked to an employee", str(cm.exception))
        self.assertFalse(self.click2call_requests())

    def test_not_configured(self):
        self.pbx.api_url = False
        self.assertRefused([self.pbx.name, "has no API URL"], reaches_pbx=False)
        self.pbx.write({"api_url": self.sim.url, "api_key": False})
        self.assertRefused([self.pbx.name, "has no API key"], reaches_pbx=False)

    def test_extension_without_pbx_account(self):
        self.employee.vpbx_pbx_id = False
        self.assertRefused([EXT, "Sales Agent", "belongs to no PBX account"], reaches_pbx=False)

    # ------------------------------------------------------------------ accounts
    def test_caller_account_settings_are_used(self):
        """Two accounts in one company: the caller's employee's account calls, with its own
        client, hotline and number format; the company's first account is not used."""
        other_sim = VpbxSimulator(api_key="c2c-other-key", seed=7).start()
        self.addCleanup(other_sim.stop)
        other_sim.add_agent("Sales Agent", "c2c_sales@example.com", extension=EXT)
        other = self.env["vpbx.pbx"].create(
            {
                "name": "Branch PBX",
                "company_id": self.company.id,
                "sequence": 50,
                "api_url": other_sim.url,
                "api_key": "c2c-other-key",
                "timeout": 5,
                "hotline": HOTLINES[1],
                "click2call_number_format": "e164",
            }
        )
        self.employee.vpbx_pbx_id = other
        self.call_mobile()
        self.assertFalse(self.click2call_requests(), "the company's first account is not asked")
        sent = [r["json"] for r in other_sim.calls_for("click2call")]
        self.assertEqual(
            sent, [{"extension": EXT, "hotline": HOTLINES[1], "phone_number": "+84903111222"}]
        )
        self.assertFalse(self.pending_calls())
        call = self.Call.search([("pbx_id", "=", other.id), ("vpbx_click2call", "=", True)])
        self.assertEqual(len(call), 1)
        self.assertEqual(call.call_uuid, next(iter(other_sim.calls)))
        self.assertEqual(call.employee_id, self.employee)
        self.assertEqual(call.hotline, HOTLINES[1])
        # the employee's own hotline still wins over its account's
        self.employee.vpbx_hotline = HOTLINES[0]
        self.call_mobile()
        self.assertEqual(other_sim.calls_for("click2call")[-1]["json"]["hotline"], HOTLINES[0])

    # ------------------------------------------------------------------ completion
    def test_webhook_completes_the_calling_record(self):
        self.call_mobile()
        call = self.pending_calls()
        record = self.sim.complete_call(call.call_uuid, "answered", bill_sec=42)
        self.assertEqual(self.push(record), [200])
        calls = self.pending_calls()
        self.assertEqual(calls, call, "the same call, completed")
        self.assertEqual(self.Call.search_count([("call_uuid", "=", call.call_uuid)]), 1)
        self.assertEqual(call.status, "answered")
        self.assertTrue(call.is_final)
        self.assertEqual(call.talk_duration, 42)
        self.assertEqual(call.duration, record["duration"])
        self.assertTrue(call.end_time)
        self.assertEqual(call.partner_id, self.partner)
        self.assertEqual(call.employee_id, self.employee)

    def test_other_transaction_id_matched_by_extension_and_number(self):
        self.call_mobile()
        call = self.pending_calls()
        record = self.sim.complete_call(call.call_uuid, "answered", bill_sec=30)
        record.update(transaction_id="PBX-OWN-ID-1", call_uuid=None, phone_number="84903111222")
        self.assertEqual(self.push(record), [200])
        self.assertEqual(self.pending_calls(), call)
        self.assertEqual(call.vpbx_call_id, "PBX-OWN-ID-1")
        self.assertEqual(call.status, "answered")
        self.assertEqual(call.talk_duration, 30)
        self.assertEqual(self.Call.search_count([("vpbx_call_id", "=", "PBX-OWN-ID-1")]), 1)

    def test_outside_window_not_matched(self):
        self.call_mobile()
        call = self.pending_calls()
        record = self.sim.complete_call(call.call_uuid, "answered", bill_sec=30)
        later = record["time_start_call"] + 3600
        record.update(
            transaction_id="PBX-LATER-1",
            call_uuid=None,
            time_start_call=later,
            time_end_call=later + 40,
        )
        self.assertEqual(self.push(record), [200])
        self.assertEqual(call.status, "calling", "an hour later is another call")
        other = self.Call.search([("vpbx_call_id", "=", "PBX-LATER-1")])
        self.assertEqual(len(other), 1)
        self.assertNotEqual(other, call)

    def live_event(self, call_id):
        return {
            "transaction_id": call_id,
            "direction": "outbound",
            "phone_number": MOBILE_NATIONAL,
            "sip_user": EXT,
            "state": "ringing",
            "time_start_call": int(time.time()),
        }

    def test_live_event_before_the_calling_record(self):
        """The PBX's live event of the call arrived before click-to-call logged it."""
        self.assertEqual(self.push(self.live_event("UUID-EARLY")), [200])
        live = self.Call.search([("vpbx_call_id", "=", "UUID-EARLY")])
        self.assertEqual(live.status, "ringing")
        call = (
            self.env["vpbx.click2call"]
            .with_user(self.sales)
            ._vpbx_create_calling(
                self.pbx,
                self.employee.sudo(),
                HOTLINES[0],
                MOBILE_NATIONAL,
                ["+84903111222"],
                "UUID-EARLY",
                partner=self.partner,
            )
        )
        self.assertEqual(call, live, "no second row for the same call")
        self.assertTrue(call.vpbx_click2call)
        self.assertEqual(call.user_id, self.sales)
        self.assertEqual(call.status, "ringing")

    def test_pending_row_merged_into_the_pbx_row(self):
        """A live event committed while click-to-call was creating its row: one call in the end."""
        self.assertEqual(self.push(self.live_event("UUID-RACE")), [200])
        pending = self.Call.create(
            {
                "vpbx_call_id": "click2call-local-1",
                "call_uuid": "UUID-RACE",
                "vpbx_click2call": True,
                "pbx_id": self.pbx.id,
                "direction": "outbound",
                "status": "calling",
                "customer_number": MOBILE_NATIONAL,
                "extension": EXT,
                "user_id": self.sales.id,
                "employee_id": self.employee.id,
                "partner_id": self.partner.id,
            }
        )
        final = dict(self.live_event("UUID-RACE"), state="cdr", disposition="answered")
        final.update(bill_sec=12, duration=15, time_end_call=final["time_start_call"] + 15)
        self.assertEqual(self.push(final), [200])
        self.assertFalse(pending.exists())
        call = self.Call.search(
            ["|", ("call_uuid", "=", "UUID-RACE"), ("vpbx_call_id", "=", "UUID-RACE")]
        )
        self.assertEqual(len(call), 1)
        self.assertEqual(call.vpbx_call_id, "UUID-RACE")
        self.assertTrue(call.vpbx_click2call)
        self.assertEqual(call.user_id, self.sales)
        self.assertEqual(call.status, "answered")
        self.assertEqual(call.talk_duration, 12)

    # ------------------------------------------------------------------ access
    def test_user_without_vpbx_group_cannot_call(self):
        with self.assertRaises(AccessError):
            self.call_mobile(self.plain)
        self.authenticate("c2c_plain", "c2c_plain_pw1")
        with mute_logger("odoo.http"), self.assertRaises(JsonRpcException) as cm:
            self.make_jsonrpc_request(
                "/web/dataset/call_kw/res.partner/action_vpbx_call_mobile",
                {
                    "model": "res.partner",
                    "method": "action_vpbx_call_mobile",
                    "args": [[self.partner.id]],
                    "kwargs": {},
                },
            )
        self.assertEqual(str(cm.exception), "odoo.exceptions.AccessError")
        self.assertFalse(self.click2call_requests())
        self.assertFalse(self.pending_calls())

    def test_buttons_only_for_vpbx_users(self):
        Partner = self.env["res.partner"]
        arch = Partner.with_user(self.sales).get_view(view_type="form")["arch"]
        self.assertIn("action_vpbx_call_mobile", arch)
        self.assertIn("action_vpbx_call_phone", arch)
        arch = Partner.with_user(self.plain).get_view(view_type="form")["arch"]
        self.assertNotIn("action_vpbx_call_mobile", arch)
        arch = self.env["vpbx.call"].with_user(self.sales).get_view(view_type="form")["arch"]
        self.assertIn("action_vpbx_call_back", arch)
        arch = self.env["hr.employee"].get_view(view_type="form")["arch"]
        self.assertIn("action_vpbx_call_work_phone", arch)
        arch = self.env["hr.employee"].with_user(self.sales).get_view(view_type="form")["arch"]
        self.assertIn("action_vpbx_call_mobile_phone", arch)
