"""Do-not-call (issue #17, part 3): Odoo's phone blacklist blocks click-to-call, flags calls and
is filled in one click from a call or a contact; old (pre-2018) and new Vietnamese numbers
block each other. Click-to-call runs against the simulator over loopback."""

from odoo.addons.sentech_vpbx.services.phone import normalize
from odoo.addons.sentech_vpbx.tools.vpbx_simulator import HOTLINES, VpbxSimulator
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools import mute_logger

from .common import make_pbx

KEY = "dnc-sim-key"
EXT = "7301"
OLD_MOBILE = "0168 345 6789"  # Viettel before 2018 ...
NEW_MOBILE = "038 345 6789"  # ... the same line today
NEW_KEY = "+84383456789"
#: the pre-2017 Nghệ An landline 038 345 6789 is 0238 345 6789 today: another line
LANDLINE = "0238 345 6789"
OTHER = "0903 222 333"
LOGGER = "odoo.addons.sentech_vpbx.models.vpbx_click2call"


@tagged("post_install", "-at_install")
class TestDoNotCall(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sim = VpbxSimulator(api_key=KEY, seed=17).start()
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
        )
        cls.sales = new_test_user(
            cls.env,
            login="dnc_sales",
            groups="base.group_user,sentech_vpbx.group_vpbx_user",
        )
        cls.colleague = new_test_user(
            cls.env,
            login="dnc_colleague",
            groups="base.group_user,sentech_vpbx.group_vpbx_user",
        )
        cls.plain = new_test_user(cls.env, login="dnc_plain", groups="base.group_user")
        cls.manager = new_test_user(
            cls.env,
            login="dnc_manager",
            groups="base.group_user,sentech_vpbx.group_vpbx_manager",
        )
        cls.env["hr.employee"].create(
            {
                "name": "DNC Agent",
                "user_id": cls.sales.id,
                "company_id": cls.company.id,
                "vpbx_extension": EXT,
            }
        )
        # demo contacts may hold these very numbers: out of the way
        keys = cls.env["vpbx.partner.phone"].search([("key", "=like", "+84%")])
        keys.partner_id.write({"phone": False, "mobile": False})
        Partner = cls.env["res.partner"]
        cls.old_contact = Partner.create({"name": "Old Number", "mobile": OLD_MOBILE})
        cls.new_contact = Partner.create({"name": "New Number", "phone": NEW_MOBILE})
        cls.landline_contact = Partner.create({"name": "Landline", "phone": LANDLINE})
        cls.other_contact = Partner.create({"name": "Other", "mobile": OTHER})
        cls.Blacklist = cls.env["phone.blacklist"]

    def setUp(self):
        super().setUp()
        self.sim.reset()
        self.sim.add_agent("DNC Agent", "dnc_sales@example.com", extension=EXT)

    # ------------------------------------------------------------------ helpers
    def old_entry(self):
        """An entry written before the renumbering (Odoo refuses to create one today: the number
        is not valid any more), as data imported from the old register holds it."""
        self.env.cr.execute(
            "INSERT INTO phone_blacklist (number, active) VALUES ('+841683456789', true)"
            " RETURNING id"
        )
        entry = self.Blacklist.browse(self.env.cr.fetchone()[0])
        # what the module's installation does for the entries already there
        self.env.add_to_compute(self.Blacklist._fields["vpbx_key"], entry)
        entry.flush_recordset()
        self.assertEqual(entry.vpbx_key, NEW_KEY)
        return entry

    def make_call(self, number, user=None, call_id=None):
        return self.env["vpbx.call"].create(
            {
                "vpbx_call_id": call_id or f"dnc-{number}",
                "pbx_id": self.pbx.id,
                "direction": "inbound",
                "status": "answered",
                "is_final": True,
                "customer_number": number,
                "customer_number_normalized": normalize(number),
                "user_id": user.id if user else False,
            }
        )

    def click2call(self, contact, fname="mobile"):
        action = getattr(contact.with_user(self.sales), f"action_vpbx_call_{fname}")
        return action()

    def assertRefused(self, contact, fname, shown):
        with mute_logger(LOGGER), self.assertRaises(UserError) as cm:
            self.click2call(contact, fname)
        self.assertEqual(
            str(cm.exception),
            f"{shown} is on the do-not-call list: it cannot be called from Odoo.",
        )
        self.assertFalse(self.sim.calls_for("click2call"), "nothing asked of the PBX")

    # ------------------------------------------------------------------ click-to-call
    def test_old_entry_blocks_new_and_old_numbers(self):
        self.old_entry()
        self.assertRefused(self.new_contact, "phone", "0383 456 789")
        self.assertRefused(self.old_contact, "mobile", "0383 456 789")
        # another line is called as before, the old landline reading included
        self.click2call(self.landline_contact, "phone")
        self.click2call(self.other_contact, "mobile")
        sent = [r["json"]["phone_number"] for r in self.sim.calls_for("click2call")]
        self.assertEqual(sent, ["02383456789", "0903222333"])

    def test_new_entry_blocks_old_number(self):
        self.new_contact.with_user(self.sales).action_vpbx_add_do_not_call()
        entry = self.Blacklist.search([("number", "=", NEW_KEY)])
        self.assertTrue(entry.active)
        self.assertEqual(entry.vpbx_key, NEW_KEY)
        self.assertRefused(self.old_contact, "mobile", "0383 456 789")
        self.assertRefused(self.new_contact, "phone", "0383 456 789")
        self.click2call(self.landline_contact, "phone")
        self.assertEqual(len(self.sim.calls_for("click2call")), 1)

    def test_archived_entry_blocks_nothing(self):
        self.old_entry().active = False
        self.click2call(self.new_contact, "phone")
        self.assertEqual(len(self.sim.calls_for("click2call")), 1)

    def test_call_back_refused(self):
        self.old_entry()
        call = self.make_call("84383456789", user=self.sales)
        with mute_logger(LOGGER), self.assertRaises(UserError) as cm:
            call.with_user(self.sales).action_vpbx_call_back()
        self.assertIn("is on the do-not-call list", str(cm.exception))
        self.assertFalse(self.sim.calls_for("click2call"))

    # ------------------------------------------------------------------ calls flagged
    def test_calls_flagged_and_filterable(self):
        old = self.make_call("01683456789")
        new = self.make_call("0383456789")
        landline = self.make_call("02383456789")
        other = self.make_call("0903222333")
        nothing = self.env["vpbx.call"].create(
            {"vpbx_call_id": "dnc-no-number", "pbx_id": self.pbx.id, "extension": "101"}
        )
        mine = old | new | landline | other | nothing
        Call = self.env["vpbx.call"]

        def flagged(value=True, operator="="):
            found = Call.search([("id", "in", mine.ids), ("vpbx_do_not_call", operator, value)])
            return found

        self.assertFalse(any(mine.mapped("vpbx_do_not_call")))
        self.assertEqual(flagged(), Call)
        self.old_entry()
        mine.invalidate_recordset(["vpbx_do_not_call"])
        self.assertEqual(mine.filtered("vpbx_do_not_call"), old | new)
        self.assertEqual(flagged(), old | new)
        self.assertEqual(flagged(False), landline | other | nothing)
        self.assertEqual(flagged(True, "!="), landline | other | nothing)
        self.assertEqual(flagged(False, "!="), old | new)

    # ------------------------------------------------------------------ one click
    def test_add_from_call(self):
        call = self.make_call("01683456789", user=self.sales, call_id="dnc-add")
        action = call.with_user(self.sales).action_vpbx_add_do_not_call()
        self.assertEqual(
            action["params"]["message"], "0383 456 789 will not be called from Odoo any more."
        )
        entry = self.Blacklist.search([("number", "=", NEW_KEY)])
        self.assertTrue(entry)
        self.assertIn("by dnc_sales", entry.message_ids[:1].body)
        call.invalidate_recordset(["vpbx_do_not_call"])
        self.assertTrue(call.vpbx_do_not_call)
        self.assertTrue(self.new_contact.with_user(self.sales).vpbx_do_not_call)
        self.assertTrue(self.old_contact.with_user(self.sales).vpbx_do_not_call)
        self.assertFalse(self.landline_contact.with_user(self.sales).vpbx_do_not_call)
        # twice: nothing more
        again = call.with_user(self.sales).action_vpbx_add_do_not_call()
        self.assertEqual(
            again["params"]["message"], "0383 456 789 is already on the do-not-call list."
        )
        self.assertEqual(self.Blacklist.search_count([("vpbx_key", "=", NEW_KEY)]), 1)

    def test_add_from_call_list(self):
        calls = self.make_call("0383456789", call_id="dnc-l1") | self.make_call(
            "0903222333", call_id="dnc-l2"
        )
        # the list's Actions menu, as the user
        action = self.env.ref("sentech_vpbx.action_server_vpbx_call_add_do_not_call")
        result = (
            action.with_user(self.sales)
            .with_context(active_model="vpbx.call", active_ids=calls.ids, active_id=calls[0].id)
            .run()
        )
        self.assertEqual(result["tag"], "display_notification")
        self.assertEqual(
            set(self.Blacklist.search([]).mapped("vpbx_key")) & {NEW_KEY, "+84903222333"},
            {NEW_KEY, "+84903222333"},
        )
        calls.invalidate_recordset(["vpbx_do_not_call"])
        self.assertTrue(all(calls.mapped("vpbx_do_not_call")))

    def test_add_from_contact_both_numbers(self):
        contact = self.env["res.partner"].create(
            {"name": "Two Numbers", "phone": "(028) 3823 4567", "mobile": OLD_MOBILE}
        )
        contact.with_user(self.sales).action_vpbx_add_do_not_call()
        keys = set(self.Blacklist.search([]).mapped("vpbx_key"))
        self.assertTrue({"+842838234567", NEW_KEY} <= keys)

    def test_bad_input_and_rights(self):
        nobody = self.env["res.partner"].create({"name": "No Number", "phone": "abc"})
        with self.assertRaises(UserError) as cm:
            nobody.with_user(self.sales).action_vpbx_add_do_not_call()
        self.assertEqual(
            str(cm.exception),
            "There is no valid phone number on the contact No Number to put on the"
            " do-not-call list.",
        )
        internal = self.env["vpbx.call"].create(
            {"vpbx_call_id": "dnc-ext", "pbx_id": self.pbx.id, "customer_number": "101"}
        )
        with self.assertRaises(UserError):
            internal.with_user(self.sales).action_vpbx_add_do_not_call()
        # not a VPBX user
        with self.assertRaises(AccessError):
            self.other_contact.with_user(self.plain).action_vpbx_add_do_not_call()
        # a colleague's call is out of reach
        theirs = self.make_call("0903222333", user=self.colleague, call_id="dnc-theirs")
        with self.assertRaises(AccessError):
            theirs.with_user(self.sales).action_vpbx_add_do_not_call()
        self.assertFalse(self.Blacklist.search([("vpbx_key", "in", [NEW_KEY, "+84903222333"])]))
        # the list itself: VPBX managers read and edit it, users do not
        self.assertTrue(self.Blacklist.with_user(self.manager).has_access("write"))
        self.assertFalse(self.Blacklist.with_user(self.sales).has_access("read"))
