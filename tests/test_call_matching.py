"""Calls find their contact and agent by number and extension, whatever the written form."""

from odoo.tests import tagged

from .common import VpbxWebhookCommon, call_payload, make_pbx


@tagged("post_install", "-at_install")
class TestCallMatching(VpbxWebhookCommon):
    def deliver(self, call_id, number, **fields):
        response = self.post(call_payload(call_id, number, **fields))
        self.assertEqual(response.status_code, 200, response.text)
        return self.calls(call_id)

    def contact(self, name, **vals):
        return self.env["res.partner"].create(dict(vals, name=name))

    def test_every_format_links_the_mobile(self):
        partner = self.contact("Mobile contact", mobile="0912 345 678")
        for index, number in enumerate(
            ("0912 345 678", "0912.345.678", "84912345678", "+84 912 345 678", "0084912345678")
        ):
            call = self.deliver(f"FMT-{index}", number)
            self.assertEqual(call.partner_id, partner, number)
            self.assertEqual(call.customer_number, number, "kept as received")
            self.assertEqual(call.customer_number_normalized, "+84912345678")
            self.assertFalse(call.is_ambiguous)

    def test_landline_both_ways(self):
        stored_national = self.contact("Landline national", phone="(028) 3823 4567")
        self.assertEqual(self.deliver("LL-1", "+84 28 3823 4567").partner_id, stored_national)
        stored_national.phone = False
        stored_international = self.contact("Landline international", phone="+84 28 3823 4567")
        self.assertEqual(self.deliver("LL-2", "(028) 3823 4567").partner_id, stored_international)
        self.assertEqual(self.deliver("LL-3", "842838234567").partner_id, stored_international)

    def test_old_mobile_numbers(self):
        old_on_contact = self.contact("Old mobile stored", mobile="0168 345 6789")
        self.assertEqual(self.deliver("OLD-1", "0383456789").partner_id, old_on_contact)
        new_on_contact = self.contact("New mobile stored", mobile="0369 876 543")
        self.assertEqual(self.deliver("OLD-2", "01669876543").partner_id, new_on_contact)

    def test_old_hcmc_landline(self):
        partner = self.contact("Old HCMC landline", phone="(08) 3823 4567")
        call = self.deliver("HCM-1", "02838234567")
        self.assertEqual(call.partner_id, partner)
        self.assertFalse(call.is_ambiguous)

    def test_relink_when_number_added(self):
        call = self.deliver("REL-1", "0905 111 222")
        other = self.deliver("REL-2", "0905 999 888")
        self.assertFalse(call.partner_id)
        partner = self.contact("Later contact")
        partner.mobile = "+84 905 111 222"
        self.assertEqual(call.partner_id, partner)
        self.assertFalse(other.partner_id)
        # a new contact created with the number links the other call
        created = self.contact("Created with number", phone="0905.999.888")
        self.assertEqual(other.partner_id, created)

    def test_relink_old_hcmc_landline(self):
        """The call's number has two readings; a contact holding the old one gets it."""
        call = self.deliver("REL-HCM", "0838234567")
        self.assertEqual(call.customer_number_normalized, "+84838234567")
        self.assertEqual(call.customer_number_alt_key, "+842838234567")
        landline_call = self.deliver("REL-HCM-2", "02838234567")
        self.assertFalse(call.partner_id or landline_call.partner_id)
        partner = self.contact("HCMC office")
        partner.phone = "(08) 3823 4567"
        self.assertEqual(call.partner_id, partner)
        self.assertEqual(landline_call.partner_id, partner)

    def test_relink_on_correction(self):
        partner = self.contact("Typo", mobile="0912 345 670")
        call = self.deliver("FIX-1", "0912345679")
        self.assertFalse(call.partner_id)
        partner.mobile = "0912 345 679"
        self.assertEqual(call.partner_id, partner)
        keys = self.env["vpbx.partner.phone"].search([("partner_id", "=", partner.id)])
        self.assertEqual(keys.mapped("key"), ["+84912345679"], "old keys are replaced")

    def test_ambiguous_flagged_with_candidates(self):
        first = self.contact("First", mobile="0987 654 321")
        second = self.contact("Second", phone="+84987654321")
        call = self.deliver("AMB-1", "0987654321")
        self.assertTrue(call.is_ambiguous)
        self.assertEqual(call.candidate_partner_ids, first | second)
        self.assertEqual(call.partner_id, first, "no earlier call, no company: the oldest")
        # the contact of this number's latest call wins next time
        call.partner_id = second
        self.assertEqual(self.deliver("AMB-2", "0987654321").partner_id, second)

    def test_ambiguous_prefers_company_and_best_reading(self):
        company = self.contact("ACME", is_company=True, phone="0987 000 111")
        person = self.contact("ACME person", parent_id=company.id, mobile="0987 000 111")
        call = self.deliver("AMB-CO", "0987000111")
        self.assertTrue(call.is_ambiguous)
        self.assertEqual(call.candidate_partner_ids, company | person)
        self.assertEqual(call.partner_id, company)
        # 0838...: the mobile reading beats the old landline reading
        landline = self.contact("Landline 028", phone="028 3811 1111")
        mobile = self.contact("Mobile 083", mobile="083 811 1111")
        self.assertEqual(self.deliver("AMB-RD1", "0838111111").partner_id, mobile)
        self.assertEqual(self.deliver("AMB-RD2", "02838111111").partner_id, landline)

    def test_company_scope_and_archived(self):
        other_company = self.env["res.company"].create({"name": "Other VPBX company"})
        self.contact("Other company's", mobile="0911 222 333", company_id=other_company.id)
        self.assertFalse(self.deliver("SCOPE-1", "0911222333").partner_id)
        archived = self.contact("Archived", mobile="0911 444 555")
        archived.action_archive()
        self.assertFalse(self.deliver("SCOPE-2", "0911444555").partner_id)
        archived.action_unarchive()
        self.assertEqual(self.calls("SCOPE-2").partner_id, archived, "relinked on unarchive")

    def test_agent_by_extension(self):
        user = self.env["res.users"].create(
            {"name": "Agent user", "login": "vpbx_agent_9101", "email": "a@example.com"}
        )
        employee = self.env["hr.employee"].create(
            {"name": "Agent 9101", "vpbx_extension": "9101", "user_id": user.id}
        )
        self.assertEqual(employee.vpbx_pbx_id, self.pbx, "the company's first account")
        other_company = self.env["res.company"].create({"name": "Other extension company"})
        other_pbx = make_pbx(self.env, other_company)
        elsewhere = self.env["hr.employee"].create(
            {"name": "Same ext elsewhere", "vpbx_extension": "9102", "company_id": other_company.id}
        )
        self.assertEqual(elsewhere.vpbx_pbx_id, other_pbx)
        call = self.deliver("EXT-1", "0912345678")
        self.assertEqual(call.employee_id, employee)
        self.assertEqual(call.user_id, user)
        self.assertFalse(self.deliver("EXT-2", "0912345678", sip_user="9102").employee_id)

    def test_key_table_and_rebuild(self):
        partner = self.contact("Keys", phone="(028) 3823 4567", mobile="0168 345 6789")
        Phone = self.env["vpbx.partner.phone"]
        rows = Phone.search([("partner_id", "=", partner.id)])
        self.assertEqual(
            sorted((row.field, row.key, row.rank) for row in rows),
            [("mobile", "+84383456789", 0), ("phone", "+842838234567", 0)],
        )
        partner.write({"name": "Renamed"})  # not a number: keys untouched
        self.assertEqual(Phone.search([("partner_id", "=", partner.id)]), rows)
        Phone._vpbx_rebuild()
        rebuilt = Phone.search([("partner_id", "=", partner.id)])
        self.assertEqual(
            sorted((row.field, row.key, row.rank) for row in rebuilt),
            [("mobile", "+84383456789", 0), ("phone", "+842838234567", 0)],
        )
        # foreign contact: its own country is the region
        foreign = self.contact("US", phone="(650) 253-0000", country_id=self.env.ref("base.us").id)
        self.assertEqual(
            Phone.search([("partner_id", "=", foreign.id)]).mapped("key"), ["+16502530000"]
        )

    def test_lookup_uses_the_index(self):
        """The contact lookup is an index equality on the key, never a scan or a LIKE."""
        self.env.cr.execute("SET LOCAL enable_seqscan = off")
        try:
            self.env.cr.execute(
                "EXPLAIN SELECT partner_id FROM vpbx_partner_phone WHERE key = ANY(%s)",
                [["+84912345678"]],
            )
            plan = " ".join(row[0] for row in self.env.cr.fetchall())
        finally:
            self.env.cr.execute("SET LOCAL enable_seqscan = on")
        self.assertIn("vpbx_partner_phone__key_index", plan)
