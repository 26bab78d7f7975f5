"""New leads from unknown callers: each setting of the PBX account, the hotline's source and
team, the salesperson, one lead per number and day (under concurrent deliveries too)."""

import json

from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from .common import BASE_TIME, ConcurrentWebhookCase, VpbxWebhookCommon, call_payload

#: numbers delivered at once in the concurrency test
PAIRS = 8


@tagged("post_install", "-at_install")
class TestLeadsFromUnknownCallers(VpbxWebhookCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["vpbx.lead.phone"].search([("key", "=like", "+84%")]).lead_id.write(
            {"phone": False, "mobile": False}
        )
        groups = "base.group_user,sales_team.group_sale_salesman"
        cls.agent = new_test_user(cls.env, login="vpbx_newlead_agent", groups=groups)
        cls.leader = new_test_user(cls.env, login="vpbx_newlead_leader", groups=groups)
        cls.env["hr.employee"].create(
            {"name": "Agent", "vpbx_extension": "9101", "user_id": cls.agent.id}
        )
        cls.team = cls.env["crm.team"].create({"name": "Hotline HCM", "user_id": cls.leader.id})
        cls.source = cls.env["utm.source"].create({"name": "Hotline 028 8880 6669"})
        cls.default_source = cls.env["utm.source"].create({"name": "Other hotlines"})
        cls.pbx.write(
            {
                "lead_source_ids": [
                    (0, 0, {"hotline": "", "source_id": cls.default_source.id, "sequence": 20}),
                    (
                        0,
                        0,
                        {
                            "hotline": "028 8880 6669",
                            "source_id": cls.source.id,
                            "team_id": cls.team.id,
                            "sequence": 10,
                        },
                    ),
                ]
            }
        )
        cls.Lead = cls.env["crm.lead"]

    def deliver(self, payload):
        response = self.post(payload)
        self.assertEqual(response.status_code, 200, response.text)
        return self.calls(payload["transaction_id"])

    def leads_of(self, number):
        keys = self.env["vpbx.lead.phone"].search([("key", "=", number)])
        return keys.lead_id

    def test_never(self):
        self.pbx.lead_creation = "never"
        call = self.deliver(call_payload("NEW-NEVER", "0977000001", missed=True))
        self.assertFalse(call.lead_id)
        self.assertFalse(self.leads_of("+84977000001"))

    def test_missed_only(self):
        self.pbx.lead_creation = "missed"
        answered = self.deliver(call_payload("NEW-MISSED-A", "0977000002"))
        self.assertFalse(answered.lead_id, "an answered call makes no lead")
        first = self.deliver(call_payload("NEW-MISSED-1", "0977000002", missed=True))
        second = self.deliver(
            call_payload("NEW-MISSED-2", "0977 000 002", missed=True, start=BASE_TIME + 600)
        )
        lead = self.leads_of("+84977000002")
        self.assertEqual(len(lead), 1, "one lead per number and day")
        self.assertEqual((first | second).lead_id, lead)
        self.assertIn("0977 000 002", lead.name)
        self.assertEqual(lead.phone, "0977 000 002")
        self.assertEqual(lead.source_id, self.source, "source of the hotline called")
        self.assertEqual(lead.team_id, self.team)
        self.assertEqual(lead.user_id, self.leader, "nobody answered: the team's leader")
        self.assertEqual(lead.company_id, self.pbx.company_id)
        self.assertEqual(answered.lead_id, lead, "the earlier call of the number links too")

    def test_every_inbound_call(self):
        self.pbx.lead_creation = "inbound"
        call = self.deliver(call_payload("NEW-ALL-1", "0977000003", sip_number="1900 1234"))
        lead = call.lead_id
        self.assertTrue(lead)
        self.assertEqual(lead.user_id, self.agent, "the agent who answered")
        self.assertEqual(lead.source_id, self.default_source, "another hotline: the default row")
        self.assertFalse(lead.team_id)
        outbound = self.deliver(call_payload("NEW-ALL-OUT", "0977000004", direction="outbound"))
        self.assertFalse(outbound.lead_id, "outbound calls make no lead")
        self.assertFalse(self.leads_of("+84977000004"))

    def test_known_numbers_make_no_lead(self):
        self.pbx.lead_creation = "inbound"
        self.deliver(call_payload("NEW-KNOWN-1", "0977000005"))
        self.assertEqual(len(self.leads_of("+84977000005")), 1)
        # the number becomes a contact: no more leads from it
        self.env["res.partner"].create({"name": "Đã biết", "mobile": "0977000006"})
        call = self.deliver(call_payload("NEW-KNOWN-2", "0977000006"))
        self.assertFalse(call.lead_id)
        self.assertFalse(self.Lead.search([("name", "like", "0977 000 006")]))
        # an open lead of the number: the call links to it, no new lead
        lead = self.Lead.create({"name": "Có sẵn", "phone": "0977000007"})
        call = self.deliver(call_payload("NEW-KNOWN-3", "0977000007"))
        self.assertEqual(call.lead_id, lead)
        self.assertEqual(self.leads_of("+84977000007"), lead)

    def test_pbx_text_is_data(self):
        self.pbx.lead_creation = "inbound"
        call = self.deliver(
            call_payload("NEW-TEXT", "0977000008", customer={"full_name": "<b>Khách</b>"})
        )
        lead = call.lead_id
        self.assertEqual(lead.contact_name, "<b>Khách</b>", "kept as text")
        for body in lead.message_ids.mapped("body"):
            self.assertNotIn("<b>Khách", body or "")


def _number(index):
    return f"0966{index:06d}"


@tagged("post_install", "-at_install")
class TestOneLeadPerNumberAndDayUnderConcurrency(ConcurrentWebhookCase):
    @classmethod
    def _vpbx_fixture(cls, env, company, pbx):
        pbx.lead_creation = "missed"
        keys = [f"+84{_number(index)[1:]}" for index in range(PAIRS)]
        env["vpbx.lead.phone"].search([("key", "in", keys)]).lead_id.unlink()

    @classmethod
    def _vpbx_remove_fixture(cls, env):
        leads = (
            env["crm.lead"]
            .with_context(active_test=False)
            .search([("company_id", "=", cls.company_id)])
        )
        leads.unlink()

    @mute_logger("odoo.sql_db")
    def test_missed_calls_at_once_make_one_lead_per_number(self):
        bodies = []
        for index in range(PAIRS):
            for n in range(3):
                payload = call_payload(
                    f"ONCE-LEAD-{index}-{n}", _number(index), missed=True, start=BASE_TIME + n
                )
                bodies.append(json.dumps(payload))
        self.assertEqual(self.post_all(bodies), [200] * len(bodies))
        with self.committed() as env:
            leads = env["crm.lead"].search([("company_id", "=", self.company_id)])
            self.assertEqual(len(leads), PAIRS, leads.mapped("name"))
            for index in range(PAIRS):
                with self.subTest(number=_number(index)):
                    calls = env["vpbx.call"].search(
                        [("vpbx_call_id", "=like", f"ONCE-LEAD-{index}-%")]
                    )
                    self.assertEqual(len(calls), 3)
                    self.assertEqual(len(calls.lead_id), 1, "every call on the one lead")
                    self.assertEqual(calls.lead_id.phone.replace(" ", ""), _number(index))
