"""Calls in the sales pipeline: leads and opportunities carry their numbers in the key index,
calls link to them (by the documented rule), notes and call-back activities land on them,
merging keeps the calls, and the Call button of a lead rings through the simulator."""

import json

from odoo.addons.sentech_vpbx.tools.vpbx_simulator import HOTLINES, VpbxSimulator
from odoo.tests import new_test_user, tagged

from .common import BASE_TIME, VpbxWebhookCommon, call_payload

KEY = "crm-sim-key"


@tagged("post_install", "-at_install")
class TestCrmLeadCalls(VpbxWebhookCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # demo leads must not hold the numbers of these tests
        cls.env["vpbx.lead.phone"].search([("key", "=like", "+84%")]).lead_id.write(
            {"phone": False, "mobile": False}
        )
        groups = "base.group_user,sales_team.group_sale_salesman"
        cls.agent = new_test_user(
            cls.env, login="vpbx_crm_agent", groups=groups, tz="Asia/Ho_Chi_Minh"
        )
        cls.other = new_test_user(
            cls.env, login="vpbx_crm_other", groups=groups, tz="Asia/Ho_Chi_Minh"
        )
        cls.employee = cls.env["hr.employee"].create(
            {"name": "Trần Thị Bình", "vpbx_extension": "9101", "user_id": cls.agent.id}
        )
        cls.Lead = cls.env["crm.lead"]
        cls.callback_type = cls.env.ref("sentech_vpbx.mail_activity_type_vpbx_callback")

    def deliver(self, payload):
        response = self.post(payload)
        self.assertEqual(response.status_code, 200, response.text)
        return self.calls(payload["transaction_id"])

    def lead(self, name, **vals):
        return self.Lead.create({"name": name, "type": "lead", **vals})

    # ------------------------------------------------------------------ number keys

    def test_every_written_form_links(self):
        """Old 11-digit mobiles, pre-2017 area codes, +84 / 84 / 0084 / 0, spaces and dots."""
        pairs = [
            ("0168 345 6789", "0383456789"),  # old mobile on the lead, today's from the PBX
            ("038 345 6780", "01683456780"),  # and the other way round
            ("+84 912 345 601", "0912345601"),
            ("84912345602", "0912 345 602"),
            ("0084 912 345 603", "+84912345603"),
            ("0912.345.604", "84912345604"),
            ("(08) 3823 4567", "842838234567"),  # the old Hồ Chí Minh City landline
        ]
        for index, (written, sent) in enumerate(pairs):
            with self.subTest(lead=written, call=sent):
                lead = self.lead(f"Form {index}", mobile=written)
                call = self.deliver(call_payload(f"CRM-FORM-{index}", sent))
                self.assertEqual(call.lead_id, lead)
                self.assertEqual(lead.vpbx_call_count, 1)

    def test_keys_follow_writes_won_lost_archive(self):
        lead = self.lead("Keys", phone="0912 345 610")
        keys = self.env["vpbx.lead.phone"].search([("lead_id", "=", lead.id)])
        self.assertEqual(keys.mapped("key"), ["+84912345610"])
        lead.phone = "0912 345 611"
        keys = self.env["vpbx.lead.phone"].search([("lead_id", "=", lead.id)])
        self.assertEqual(keys.mapped("key"), ["+84912345611"])
        self.assertFalse(self.deliver(call_payload("CRM-KEYS-OLD", "0912345610")).lead_id)
        self.assertEqual(self.deliver(call_payload("CRM-KEYS-NEW", "0912345611")).lead_id, lead)
        lead.action_set_lost()
        self.assertFalse(self.deliver(call_payload("CRM-KEYS-LOST", "0912345611")).lead_id)
        lead.action_unarchive()
        self.assertEqual(self.deliver(call_payload("CRM-KEYS-BACK", "0912345611")).lead_id, lead)
        lead.action_set_won()
        self.assertFalse(self.deliver(call_payload("CRM-KEYS-WON", "0912345611")).lead_id)

    def test_import_indexes_numbers(self):
        result = self.Lead.load(["name", "mobile"], [["Imported", "0168 345 6700"]])
        self.assertFalse(result["messages"], result)
        lead = self.Lead.browse(result["ids"])
        self.assertEqual(self.deliver(call_payload("CRM-IMPORT", "0383456700")).lead_id, lead)

    def test_lead_gets_number_later_picks_up_calls(self):
        call = self.deliver(call_payload("CRM-LATER", "0912345620"))
        self.assertFalse(call.lead_id)
        lead = self.lead("Later")
        lead.mobile = "+84 912 345 620"
        self.assertEqual(call.lead_id, lead)

    # ------------------------------------------------------------------ the rule

    def test_contact_opportunity_before_lead_of_number(self):
        partner = self.env["res.partner"].create({"name": "Anh Khoa", "mobile": "0912345630"})
        number_lead = self.lead("Number only", phone="0912345630")
        opportunity = self.Lead.create(
            {"name": "Deal", "type": "opportunity", "partner_id": partner.id, "phone": False}
        )
        call = self.deliver(call_payload("CRM-RULE-1", "0912345630"))
        self.assertEqual(call.partner_id, partner)
        self.assertEqual(call.lead_id, opportunity)
        self.assertEqual(set(call.candidate_lead_ids.ids), {opportunity.id, number_lead.id})

    def test_agents_lead_then_most_recent(self):
        mine = self.lead("Mine", phone="0912345640", user_id=self.agent.id)
        recent = self.lead("Recent", phone="0912345640", user_id=self.other.id)
        recent.description = "touched last"
        call = self.deliver(call_payload("CRM-RULE-2", "0912345640"))
        self.assertEqual(call.user_id, self.agent)
        self.assertEqual(call.lead_id, mine, "the call's agent's lead first")
        self.assertEqual(set(call.candidate_lead_ids.ids), {mine.id, recent.id})
        other_call = self.deliver(call_payload("CRM-RULE-3", "0912345640", sip_user="9999"))
        self.env.cr.execute(
            "UPDATE crm_lead SET write_date = now() + interval '1 minute' WHERE id = %s",
            [recent.id],
        )
        other_call.lead_id = False
        other_call._vpbx_match_lead()
        self.assertEqual(other_call.lead_id, recent, "else the most recently updated")

    def test_other_company_lead_ignored(self):
        other_company = self.env["res.company"].create({"name": "Chi nhánh khác"})
        self.lead("Elsewhere", phone="0912345650", company_id=other_company.id)
        self.assertFalse(self.deliver(call_payload("CRM-COMPANY", "0912345650")).lead_id)

    # ------------------------------------------------------------------ on the lead

    def test_note_on_lead_is_escaped(self):
        lead = self.lead("Note", phone="0912345660")
        payload = call_payload(
            "CRM-NOTE",
            "0912345660",
            sip_user="9888",
            user=[{"extension": "9888", "full_name": "<img src=x onerror=alert(1)>"}],
        )
        call = self.deliver(payload)
        self.assertEqual(call.lead_id, lead)
        notes = lead.message_ids.filtered(lambda m: "duration" in (m.body or ""))
        self.assertEqual(len(notes), 1)
        self.assertIn("&lt;img", notes.body)
        self.assertNotIn("<img", notes.body)

    def test_missed_call_activity_on_lead(self):
        self.pbx.missed_call_user_id = self.other
        lead = self.lead("Missed", phone="0912345670")
        self.deliver(call_payload("CRM-MISS-1", "0912345670", missed=True, sip_user=None))
        self.deliver(
            call_payload(
                "CRM-MISS-2", "0912345670", missed=True, sip_user=None, start=BASE_TIME + 60
            )
        )
        activities = self.env["mail.activity"].search(
            [
                ("activity_type_id", "=", self.callback_type.id),
                ("res_model", "=", "crm.lead"),
                ("res_id", "=", lead.id),
            ]
        )
        self.assertEqual(len(activities), 1, "one per number and day, on the lead")
        self.assertEqual(activities.user_id, self.other)

    def test_merge_keeps_every_call(self):
        first = self.lead("Merge A", phone="0912345680", expected_revenue=10)
        second = self.lead("Merge B", phone="0912345681", expected_revenue=5)
        self.deliver(call_payload("CRM-MERGE-1", "0912345680"))
        self.deliver(call_payload("CRM-MERGE-2", "0912345681"))
        self.deliver(call_payload("CRM-MERGE-3", "0912345681", start=BASE_TIME + 300))
        head = (first | second).merge_opportunity()
        self.assertTrue(head.exists())
        self.assertFalse(((first | second) - head).exists())
        calls = self.Call.search([("vpbx_call_id", "=like", "CRM-MERGE-%")])
        self.assertEqual(len(calls), 3)
        self.assertEqual(calls.lead_id, head)
        self.assertEqual(head.vpbx_call_count, 3)

    def test_calls_button(self):
        lead = self.lead("Button", phone="0912345690")
        call = self.deliver(call_payload("CRM-BUTTON", "0912345690"))
        action = lead.action_vpbx_open_calls()
        self.assertEqual(self.Call.search(action["domain"]), call)


@tagged("post_install", "-at_install")
class TestLeadClick2call(VpbxWebhookCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sim = VpbxSimulator(api_key=KEY, seed=16).start()
        cls.addClassCleanup(cls.sim.stop)
        cls.pbx.write({"api_url": cls.sim.url, "api_key": KEY, "timeout": 5})
        cls.pbx.hotline = HOTLINES[0]
        cls.sales = new_test_user(
            cls.env, login="vpbx_crm_c2c", groups="base.group_user,sales_team.group_sale_salesman"
        )
        cls.env["hr.employee"].create(
            {"name": "Caller", "user_id": cls.sales.id, "vpbx_extension": "9201"}
        )
        cls.sim.add_agent("Caller", "caller@example.com", extension="9201")

    def test_call_button_of_lead(self):
        lead = self.env["crm.lead"].create({"name": "Ring me", "mobile": "0903 222 333"})
        action = lead.with_user(self.sales).action_vpbx_call_mobile()
        self.assertEqual(action["params"]["type"], "info")
        self.assertEqual(self.sim.calls_for("click2call")[-1]["json"]["phone_number"], "0903222333")
        call = self.Call.search([("lead_id", "=", lead.id)])
        self.assertEqual(len(call), 1)
        self.assertEqual(call.status, "calling")
        self.assertEqual(call.user_id, self.sales)
        # the PBX's record completes the same call, still on the lead
        payload = call_payload(
            call.vpbx_call_id, "0903222333", direction="outbound", sip_user="9201"
        )
        self.assertEqual(self.post(payload).status_code, 200)
        self.assertEqual(self.Call.search([("lead_id", "=", lead.id)]), call)
        self.assertEqual(call.status, "answered")
        self.assertTrue(json.dumps(action))
