"""After the call (issue #17): outcomes recorded by the agent or named by the PBX, the time to
call back a missed call, and the manager's figures."""

import time

from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from ..services.phone import format_display
from .common import BASE_TIME, VpbxWebhookCommon, call_payload, make_pbx
from .test_recording import TOUR as RECORDING_TOUR
from .test_recording import _AudioServer

NUMBER = "0912345678"
OTHER_NUMBER = "0987654321"


@tagged("post_install", "-at_install")
class TestCallOutcome(VpbxWebhookCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.agent = new_test_user(
            cls.env,
            login="vpbx_outcome_agent",
            groups="base.group_user,sentech_vpbx.group_vpbx_user",
            tz="Asia/Ho_Chi_Minh",
        )
        cls.other = new_test_user(
            cls.env,
            login="vpbx_outcome_other",
            groups="base.group_user,sentech_vpbx.group_vpbx_user",
        )
        cls.manager = new_test_user(
            cls.env,
            login="vpbx_outcome_manager",
            groups="base.group_user,sentech_vpbx.group_vpbx_manager",
        )
        cls.env["hr.employee"].create(
            {"name": "Agent", "vpbx_extension": "9101", "user_id": cls.agent.id}
        )
        cls.env["hr.employee"].create(
            {"name": "Other", "vpbx_extension": "9102", "user_id": cls.other.id}
        )
        cls.customer = cls.env["res.partner"].create({"name": "Khách hàng", "mobile": NUMBER})
        cls.interested = cls.env.ref("sentech_vpbx.outcome_interested")
        cls.call_back = cls.env.ref("sentech_vpbx.outcome_call_back")
        cls.callback_type = cls.env.ref("sentech_vpbx.mail_activity_type_vpbx_callback")

    def deliver(self, call_id, **fields):
        response = self.post(call_payload(call_id, **fields))
        self.assertEqual(response.status_code, 200, response.text)
        return self.calls(call_id)

    def activities(self, record):
        return self.env["mail.activity"].search(
            [
                ("activity_type_id", "=", self.callback_type.id),
                ("res_model", "=", record._name),
                ("res_id", "=", record.id),
            ]
        )

    # ------------------------------------------------------------------ outcomes

    def test_pbx_tag_and_note_set_the_outcome(self):
        call = self.deliver("OUT-TAG-1", tag="VIP, Interested", note="Wants a quote")
        self.assertEqual(call.pbx_tag, "VIP, Interested")
        self.assertEqual(call.outcome_id, self.interested, "the first tag naming an outcome")
        self.assertEqual(call.outcome_note, "Wants a quote")
        # the agent's own entry in user[] (OmiCall's per-staff note and tag), a code in any case
        call = self.deliver(
            "OUT-TAG-2",
            user=[{"extension": "9101", "note": "Gọi lại thứ Hai", "tag": ["WRONG_NUMBER"]}],
        )
        self.assertEqual(call.outcome_id, self.env.ref("sentech_vpbx.outcome_wrong_number"))
        self.assertEqual(call.outcome_note, "Gọi lại thứ Hai")
        # a tag naming nothing leaves the outcome empty, the tag is kept
        call = self.deliver("OUT-TAG-3", tag="random")
        self.assertFalse(call.outcome_id)
        self.assertEqual(call.pbx_tag, "random")

    def test_pbx_call_back_tag_schedules_an_activity_for_the_agent(self):
        call = self.deliver("OUT-TAG-CB", tag="callback", note="<b>after 5pm</b>")
        self.assertEqual(call.outcome_id, self.call_back)
        activity = self.activities(self.customer)
        self.assertEqual(activity.user_id, self.agent)

    def test_agent_records_an_outcome_on_own_call(self):
        call = self.deliver("OUT-AGENT-1")
        self.assertEqual(call.user_id, self.agent)
        call.with_user(self.agent).vpbx_set_outcome(self.interested.id, "<script>x</script> ok")
        self.assertEqual(call.outcome_id, self.interested)
        self.assertEqual(call.outcome_user_id, self.agent)
        note = self.customer.message_ids.filtered(lambda m: "Outcome of the call" in m.body)
        self.assertEqual(len(note), 1)
        self.assertIn("Interested", note.body)
        self.assertIn("&lt;script&gt;", note.body, "the agent's text is escaped")
        self.assertNotIn("<script>", note.body)
        self.assertEqual(note.author_id, self.agent.partner_id)
        self.assertFalse(self.activities(self.customer), "interested schedules nothing")

    def test_call_back_outcome_schedules_in_the_agents_language(self):
        self.env["res.lang"]._activate_lang("vi_VN")
        self.agent.lang = "vi_VN"
        call = self.deliver("OUT-AGENT-CB")
        call.with_user(self.agent).vpbx_set_outcome(self.call_back.id, "sau 5 giờ")
        activity = self.activities(self.customer)
        self.assertEqual(activity.user_id, self.agent)
        self.assertIn("sau 5 giờ", activity.note)
        # the summary is the addon's text as vi.po translates it, for the agent
        label = format_display(call.customer_number, "VN")
        english = (
            self.env["vpbx.call"]
            .with_context(lang="en_US")
            .env._("Call back %(number)s", number=label)
        )
        expected = (
            self.env["vpbx.call"]
            .with_context(lang="vi_VN")
            .env._("Call back %(number)s", number=label)
        )
        self.assertNotEqual(expected, english, "vi.po translates it")
        self.assertEqual(activity.summary, expected)

    def test_call_note_in_the_agents_language(self):
        self.env["res.lang"]._activate_lang("vi_VN")
        self.agent.lang = "vi_VN"
        self.deliver("NOTE-LANG-1")
        note = self.customer.message_ids.filtered(lambda m: "thời lượng" in (m.body or ""))
        self.assertEqual(len(note), 1, "the call's note in Vietnamese, the agent's language")

    def test_outcome_refused_on_someone_elses_call(self):
        call = self.deliver("OUT-OTHER-1", sip_user="9102")
        self.assertEqual(call.user_id, self.other)
        with self.assertRaises(AccessError):
            call.with_user(self.agent).vpbx_set_outcome(self.interested.id)
        self.assertFalse(call.outcome_id)
        # a manager records it on any call of their companies
        call.with_user(self.manager).vpbx_set_outcome(self.interested.id)
        self.assertEqual(call.outcome_id, self.interested)
        with self.assertRaises(UserError):
            call.with_user(self.manager).vpbx_set_outcome(False)

    def test_outcome_refused_on_another_companys_call(self):
        company = self.env["res.company"].create(
            {"name": "Chi nhánh 2", "country_id": self.env.ref("base.vn").id}
        )
        pbx = make_pbx(self.env, company)
        self.manager.company_ids = [(4, company.id)]
        response = self.post(
            call_payload("OUT-CO-1", sip_user="7777"), token=pbx.sudo().webhook_token
        )
        self.assertEqual(response.status_code, 200)
        call = self.Call.search([("vpbx_call_id", "=", "OUT-CO-1")])
        self.assertEqual(call.company_id, company)
        # the manager works for both companies, but has only the first one selected
        as_manager = call.with_user(self.manager).with_context(
            allowed_company_ids=[self.company.id]
        )
        with self.assertRaises(AccessError):
            as_manager.vpbx_set_outcome(self.interested.id)
        self.assertFalse(call.outcome_id)
        # with both companies selected, the call is theirs to qualify
        call.with_user(self.manager).with_context(
            allowed_company_ids=[self.company.id, company.id]
        ).vpbx_set_outcome(self.interested.id)
        self.assertEqual(call.outcome_id, self.interested)

    def test_wizard_records_on_several_calls(self):
        calls = self.deliver("OUT-WIZ-1") | self.deliver("OUT-WIZ-2", start=BASE_TIME + 600)
        wizard = (
            self.env["vpbx.call.outcome.wizard"]
            .with_user(self.agent)
            .create({"call_ids": [(6, 0, calls.ids)], "outcome_id": self.interested.id})
        )
        wizard.action_apply()
        self.assertEqual(calls.outcome_id, self.interested)

    # ------------------------------------------------------------------ time to call back

    def test_time_to_call_back(self):
        missed = self.deliver("CB-MISSED-1", missed=True)
        self.assertEqual(missed.callback_state, "pending")
        # an outbound call to another number, or inbound from the number: not a call back
        self.deliver(
            "CB-OTHER", direction="outbound", phone_number=OTHER_NUMBER, start=BASE_TIME + 60
        )
        self.deliver("CB-IN-AGAIN", start=BASE_TIME + 120)
        self.assertEqual(missed.callback_state, "pending")
        # the first outbound call to the number, 30 minutes later, even unanswered
        back = self.deliver("CB-BACK-1", direction="outbound", missed=True, start=BASE_TIME + 1800)
        self.assertEqual(missed.callback_state, "done")
        self.assertEqual(missed.callback_call_id, back)
        self.assertEqual(missed.callback_minutes, 30.0)
        # a later one changes nothing
        self.deliver("CB-BACK-2", direction="outbound", start=BASE_TIME + 3600)
        self.assertEqual(missed.callback_call_id, back)
        self.assertFalse(back.callback_state, "only missed inbound calls wait for a call back")

    def test_time_to_call_back_in_any_order(self):
        # a history import: the call back arrives before the missed call it answers
        back = self.deliver("CB-ORDER-BACK", direction="outbound", start=BASE_TIME + 600)
        before = self.deliver("CB-ORDER-BEFORE", direction="outbound", start=BASE_TIME - 600)
        missed = self.deliver("CB-ORDER-MISSED", missed=True)
        self.assertEqual(missed.callback_call_id, back, "the first outbound call after it")
        self.assertNotEqual(missed.callback_call_id, before)
        self.assertEqual(missed.callback_minutes, 10.0)

    # ------------------------------------------------------------------ the manager's view

    def test_measures_and_call_center_figures(self):
        baseline = self.Call.with_user(self.manager).vpbx_call_center(days=30)
        self.assertEqual(baseline["called_back"], 0)
        answered = self.deliver("CC-1", time_answer_start=BASE_TIME + 5)
        missed = self.deliver("CC-2", missed=True, start=BASE_TIME + 100)
        self.deliver("CC-3", missed=True, phone_number=OTHER_NUMBER, start=BASE_TIME + 200)
        self.deliver("CC-4", direction="outbound", start=BASE_TIME + 100 + 1200)
        self.assertEqual(answered.answered_percent, 100)
        self.assertEqual(answered.ring_duration, 5)
        self.assertEqual(missed.answered_percent, 0)
        self.assertEqual(missed.ring_duration, 65, "a missed call rang until it ended")
        self.assertEqual(self.Call.vpbx_call_center(days=10**6)["days"], 366)
        # the calls are of 2025: moved to yesterday, a day apart as they came
        self.env.flush_all()
        self.env.cr.execute(
            """UPDATE vpbx_call SET start_time = start_time
                      + (date_trunc('day', now() AT TIME ZONE 'UTC') - %s::timestamp)
                WHERE vpbx_call_id LIKE 'CC-%%'""",
            [answered.start_time.replace(hour=0, minute=0, second=0)],
        )
        self.env.invalidate_all()
        figures = self.Call.with_user(self.manager).vpbx_call_center(days=30)
        self.assertEqual(figures["calls"] - baseline["calls"], 4)
        self.assertEqual(figures["inbound"] - baseline["inbound"], 3)
        self.assertEqual(figures["answered"] - baseline["answered"], 1)
        self.assertEqual(figures["missed_not_called_back"] - baseline["missed_not_called_back"], 1)
        self.assertEqual(figures["called_back"], 1)
        self.assertEqual(figures["median_callback_minutes"], 20.0)
        # an agent sees the figures of the calls they may read only (theirs, and unassigned)
        mine = self.Call.with_user(self.other).vpbx_call_center(days=30)
        self.assertLess(mine["answered"], figures["answered"])


@tagged("post_install", "-at_install")
class TestCallOutcomeTours(VpbxWebhookCommon):
    """In the browser: the agent plays the recording and records the outcome on the call form;
    the manager opens the Call center."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.agent = new_test_user(
            cls.env,
            login="outcome_tour_agent",
            groups="base.group_user,sentech_vpbx.group_vpbx_user",
        )
        cls.manager = new_test_user(
            cls.env,
            login="outcome_tour_manager",
            groups="base.group_user,sentech_vpbx.group_vpbx_manager",
        )
        cls.env["hr.employee"].create(
            {"name": "Agent", "vpbx_extension": "9101", "user_id": cls.agent.id}
        )
        cls.env["res.partner"].create({"name": "Khách hàng", "mobile": NUMBER})

    def test_agent_plays_the_recording_and_records_the_outcome(self):
        audio = _AudioServer()
        self.addCleanup(audio.stop)
        self.post(call_payload("TOUR-OUT-1", recording_file_url=f"{audio.url}/rec.wav"))
        call = self.calls("TOUR-OUT-1")
        options = {"login": "outcome_tour_agent", "timeout": 120}
        self.start_tour(f"/odoo/vpbx.call/{call.id}", RECORDING_TOUR, **options)
        self.start_tour(f"/odoo/vpbx.call/{call.id}", "sentech_vpbx_outcome", **options)
        self.env.invalidate_all()
        self.assertEqual(call.outcome_id, self.env.ref("sentech_vpbx.outcome_interested"))
        self.assertEqual(call.outcome_user_id.login, "outcome_tour_agent")

    def test_manager_opens_the_call_center(self):
        recent = int(time.time()) - 3600  # within the dashboard's 30 days
        self.post(call_payload("TOUR-CC-1", missed=True, start=recent))
        self.post(call_payload("TOUR-CC-2", start=recent + 60))
        self.start_tour(
            "/odoo/action-sentech_vpbx.action_vpbx_call_center",
            "sentech_vpbx_call_center",
            login="outcome_tour_manager",
            timeout=120,
        )
