"""The live-call pop-up and the pipeline: the caller's open opportunities (stage, expected
revenue, salesperson) under the user's own rights, and Create lead for an unknown number."""

from odoo.tests import tagged

from .common import live_payload
from .rpc_common import password
from .test_live_call import NUMBER, LiveCallCommon


@tagged("post_install", "-at_install")
class TestLiveCardLeads(LiveCallCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["vpbx.lead.phone"].search([("key", "=", "+84938246810")]).lead_id.write(
            {"phone": False, "mobile": False}
        )
        cls.agent.groups_id += cls.env.ref("sales_team.group_sale_salesman_all_leads")
        stage = cls.env["crm.stage"].search([("is_won", "=", False)], limit=1)
        cls.opportunity = cls.env["crm.lead"].create(
            {
                "name": "Máy lọc nước <b>x</b>",
                "type": "opportunity",
                "partner_id": cls.partner.id,
                "expected_revenue": 12500000,
                "user_id": cls.agent.id,
                "stage_id": stage.id,
                "company_id": cls.company.id,
            }
        )

    def test_open_opportunities_on_the_card(self):
        # it rings the agent (a salesperson) and a colleague without the pipeline's rights
        self.post_ok(live_payload("CARD-CRM-1", NUMBER, sip_user=None, extension="101,103"))
        call = self.calls("CARD-CRM-1")
        self.assertEqual(call.lead_id, self.opportunity)
        card = self.rpc(self.agent, "vpbx.live.call", "vpbx_live_card", [call.id])
        self.assertEqual(len(card["leads"]), 1)
        lead = card["leads"][0]
        self.assertEqual(lead["id"], self.opportunity.id)
        self.assertEqual(lead["name"], "Máy lọc nước <b>x</b>", "text, escaped by t-esc")
        self.assertEqual(lead["stage"], self.opportunity.stage_id.name)
        self.assertIn("12", lead["expected_revenue"])
        self.assertEqual(lead["salesperson"], self.agent.name)
        # a colleague without access to the pipeline sees no opportunity
        card = self.rpc(self.restricted, "vpbx.live.call", "vpbx_live_card", [call.id])
        self.assertEqual(card["leads"], [])
        self.assertFalse(card["can_create_lead"])
        # a won opportunity is no longer open
        self.opportunity.action_set_won()
        card = self.rpc(self.agent, "vpbx.live.call", "vpbx_live_card", [call.id])
        self.assertEqual(card["leads"], [])

    def test_create_lead_for_an_unknown_number(self):
        self.post_ok(live_payload("CARD-CRM-U", "0977111333", sip_user="101"))
        unknown = self.calls("CARD-CRM-U")
        card = self.rpc(self.agent, "vpbx.live.call", "vpbx_live_card", [unknown.id])
        self.assertTrue(card["can_create_lead"])
        self.assertEqual(card["leads"], [])
        # the lead saved from the pop-up picks up the ringing call through its number
        self.authenticate(self.agent.login, password(self.agent.login))
        self.make_jsonrpc_request(
            "/web/dataset/call_kw/crm.lead/create",
            {
                "model": "crm.lead",
                "method": "create",
                "args": [{"name": "Khách hỏi giá", "phone": card["number_display"]}],
                "kwargs": {},
            },
        )
        self.env.invalidate_all()
        self.assertEqual(unknown.lead_id.name, "Khách hỏi giá")
        card = self.rpc(self.agent, "vpbx.live.call", "vpbx_live_card", [unknown.id])
        self.assertEqual([lead["name"] for lead in card["leads"]], ["Khách hỏi giá"])
