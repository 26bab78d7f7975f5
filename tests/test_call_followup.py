"""What sales staff get from calls: a note on the contact, call-back activities, call history."""

from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from .common import BASE_TIME, VpbxWebhookCommon, call_payload


@tagged("post_install", "-at_install")
class TestCallFollowup(VpbxWebhookCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.agent_user = new_test_user(
            cls.env,
            login="vpbx_followup_agent",
            groups="base.group_user,sentech_vpbx.group_vpbx_user",
            tz="Asia/Ho_Chi_Minh",
        )
        cls.other_user = new_test_user(
            cls.env,
            login="vpbx_followup_other",
            groups="base.group_user,sentech_vpbx.group_vpbx_user",
            tz="Asia/Ho_Chi_Minh",
        )
        cls.fallback_user = new_test_user(
            cls.env, login="vpbx_followup_fallback", groups="base.group_user"
        )
        cls.employee = cls.env["hr.employee"].create(
            {"name": "Trần Thị Bình", "vpbx_extension": "9101", "user_id": cls.agent_user.id}
        )
        cls.other_employee = cls.env["hr.employee"].create(
            {"name": "Other agent", "vpbx_extension": "9102", "user_id": cls.other_user.id}
        )
        cls.customer = cls.env["res.partner"].create(
            {"name": "Công ty Khách", "is_company": True, "phone": "028 3999 0000"}
        )
        cls.person = cls.env["res.partner"].create(
            {"name": "Người liên hệ", "parent_id": cls.customer.id, "mobile": "0912 345 678"}
        )
        cls.callback_type = cls.env.ref("sentech_vpbx.mail_activity_type_vpbx_callback")

    def deliver(self, payload):
        response = self.post(payload)
        self.assertEqual(response.status_code, 200, response.text)
        return self.calls(payload["transaction_id"])

    def callbacks(self, records):
        return self.env["mail.activity"].search(
            [
                ("activity_type_id", "=", self.callback_type.id),
                ("res_model", "=", records._name),
                ("res_id", "in", records.ids),
            ]
        )

    def test_note_once_with_details(self):
        call = self.deliver(call_payload("NOTE-1"))
        self.deliver(call_payload("NOTE-1"))
        notes = self.notes(self.person)
        self.assertEqual(len(notes), 1, "the final record delivered twice posts one note")
        body = notes.body
        self.assertIn("Inbound", body)
        self.assertIn("Answered", body)
        self.assertIn("1:05", body)
        self.assertIn("Trần Thị Bình", body)
        # the recording plays through Odoo's route, which checks the reader may read the call
        self.assertIn(f'href="/vpbx/call/{call.id}/recording"', body)
        self.assertEqual(notes.author_id, self.agent_user.partner_id)
        self.assertEqual(call.employee_id, self.employee)

    def test_note_setting_off(self):
        self.pbx.post_call_note = False
        self.deliver(call_payload("NOTE-OFF"))
        self.assertFalse(self.notes(self.person))

    def test_missed_calls_one_activity_per_day(self):
        first = self.deliver(call_payload("MISS-1", missed=True))
        self.assertEqual(first.status, "missed")
        activity = self.callbacks(self.person)
        self.assertEqual(len(activity), 1)
        self.assertEqual(activity.user_id, self.agent_user)
        self.assertEqual(str(activity.date_deadline), "2025-03-10")
        self.assertEqual(first.callback_activity_id, activity)

        second = self.deliver(
            call_payload("MISS-2", "+84 912 345 678", missed=True, start=BASE_TIME + 3600)
        )
        self.deliver(
            call_payload("MISS-2", "+84 912 345 678", missed=True, start=BASE_TIME + 3600)
        )  # re-sent: no third count
        self.assertEqual(self.callbacks(self.person), activity, "updated, not a second one")
        self.assertEqual(second.callback_activity_id, activity)
        self.assertIn("2 missed calls", str(activity.note))

        # next day: a new activity
        self.deliver(call_payload("MISS-3", missed=True, start=BASE_TIME + 86400))
        self.assertEqual(len(self.callbacks(self.person)), 2)
        # an answered or outbound call never asks for a call back
        self.deliver(call_payload("MISS-4", start=BASE_TIME + 60))
        self.deliver(call_payload("MISS-5", direction="outbound", missed=True))
        self.assertEqual(len(self.callbacks(self.person)), 2)

    def test_pbx_text_is_escaped_in_notes_and_activities(self):
        """Whatever the PBX writes in its text fields stays text in Odoo's HTML."""
        markup = '<a href="https://evil.example/login">Call back here</a><img src=x>'

        def assert_inert(html, where):
            self.assertNotIn('<a href="https://evil', html, where)
            self.assertNotIn("<img", html, where)

        # the number, unknown (the activity goes on the call) and then a contact's
        missed = self.deliver(call_payload("XSS-1", markup, missed=True))
        activity = self.callbacks(missed)
        self.assertEqual(len(activity), 1)
        assert_inert(str(activity.note), "activity note")
        self.assertIn("&lt;a href=", str(activity.note))
        self.assertEqual(activity.summary, f"Call back {markup}", "the summary is plain text")
        self.deliver(call_payload("XSS-2", markup, missed=True, start=BASE_TIME + 60))
        self.assertEqual(self.callbacks(missed), activity)
        assert_inert(str(activity.note), "activity note, updated")
        self.assertIn("2 missed calls", str(activity.note))
        # every text field of a final record that can reach the contact's chatter note
        fields = {
            "agent_name": markup,
            "customer_name": markup,
            "sip_number": markup,
            "disposition": "answered",
            "recording_file_url": 'https://rec.example.com/a.mp3"><img src=x>',
        }
        self.deliver(call_payload("XSS-3", sip_user="9999", **fields))
        note = self.notes(self.person)
        self.assertEqual(len(note), 1)
        assert_inert(str(note.body), "chatter note")
        self.assertIn("&lt;a href=", str(note.body), "the agent's name, as text")
        # a link only to http(s): a javascript: recording is dropped, not linked
        self.deliver(
            call_payload("XSS-4", start=BASE_TIME + 120, recording_file_url="javascript:alert(1)")
        )
        self.assertFalse(self.calls("XSS-4").recording_url)
        self.assertNotIn("javascript:", "".join(str(m.body) for m in self.notes(self.person)))

    def test_missed_call_fallback_user_and_unknown_number(self):
        payload = call_payload("MISS-FB", "0977 123 123", missed=True, sip_user=None)
        call = self.deliver(payload)
        self.assertFalse(call.partner_id)
        self.assertFalse(self.callbacks(call), "no agent, no fallback user: nobody to call back")
        self.pbx.missed_call_user_id = self.fallback_user
        call = self.deliver(call_payload("MISS-FB2", "0977 123 123", missed=True, sip_user=None))
        activity = self.callbacks(call)
        self.assertEqual(activity.user_id, self.fallback_user, "on the call: no contact known")

    def test_contact_smart_button_and_latest_calls(self):
        own = self.deliver(call_payload("HIST-1", "0912345678"))
        company_call = self.deliver(call_payload("HIST-2", "028 3999 0000"))
        self.deliver(call_payload("HIST-3", "0977 555 666"))  # somebody else
        self.assertEqual(own.partner_id, self.person)
        self.assertEqual(company_call.partner_id, self.customer)
        self.assertEqual(self.customer.vpbx_call_count, 2, "child contacts included")
        self.assertEqual(self.person.vpbx_call_count, 1)
        action = self.customer.action_vpbx_open_calls()
        self.assertEqual(self.env["vpbx.call"].search(action["domain"]), own | company_call)
        self.assertEqual(self.customer.vpbx_latest_call_ids, own | company_call)
        for index in range(12):
            self.deliver(call_payload(f"HIST-M{index}", "0912345678", start=BASE_TIME + index))
        self.customer.invalidate_recordset()
        self.assertEqual(len(self.customer.vpbx_latest_call_ids), 10)
        self.assertEqual(self.customer.vpbx_latest_call_ids[0], self.calls("HIST-M11"))

    def test_employee_smart_button(self):
        self.deliver(call_payload("EMP-1"))
        self.deliver(call_payload("EMP-2", sip_user="9102"))
        self.assertEqual(self.employee.vpbx_call_count, 1)
        action = self.employee.action_vpbx_open_calls()
        self.assertEqual(self.env["vpbx.call"].search(action["domain"]), self.calls("EMP-1"))

    def test_record_rules(self):
        mine = self.deliver(call_payload("RR-1"))
        theirs = self.deliver(call_payload("RR-2", sip_user="9102"))
        nobody = self.deliver(call_payload("RR-3", sip_user="555"))
        visible = (
            self.env["vpbx.call"]
            .with_user(self.agent_user)
            .search([("id", "in", (mine | theirs | nobody).ids)])
        )
        self.assertEqual(visible, mine | nobody)
        with self.assertRaises(AccessError):
            theirs.with_user(self.agent_user).read(["status"])
        with self.assertRaises(AccessError):
            mine.with_user(self.agent_user).write({"status": "missed"})
        with self.assertRaises(AccessError):
            self.env["vpbx.webhook.event"].with_user(self.agent_user).search([])
        manager = new_test_user(
            self.env, login="vpbx_followup_manager", groups="sentech_vpbx.group_vpbx_manager"
        )
        self.assertEqual(
            self.env["vpbx.call"]
            .with_user(manager)
            .search_count([("id", "in", (mine | theirs | nobody).ids)]),
            3,
        )
        # the contact's count follows the same rules
        self.assertEqual(self.person.with_user(self.agent_user).vpbx_call_count, 2)
