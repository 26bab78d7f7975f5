"""Who may do what, through JSON-RPC as each role (issue #7).

Roles: a plain internal user (no VPBX group), a VPBX user, a salesman (Sales / User: own
documents, which implies VPBX user), HR officer (VPBX user) and HR administrator (VPBX
manager), a VPBX manager who is not a Settings administrator.
"""

import json

from odoo.tests import HttpCase, new_test_user, tagged

from .rpc_common import RpcAsUserMixin, password
from .test_webhook import call_payload

USER = "sentech_vpbx.group_vpbx_user"
MANAGER = "sentech_vpbx.group_vpbx_manager"
API_KEY = "acl-Secret-Key-5521"
PASSWORD = "acl-Ext!Pw-8843"


@tagged("post_install", "-at_install")
class TestAccessRights(RpcAsUserMixin, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.company.write({"vpbx_api_key": API_KEY, "country_id": cls.env.ref("base.vn").id})
        cls.token = cls.company._vpbx_ensure_webhook_token()

        def user(login, groups):
            return new_test_user(cls.env, login=login, password=password(login), groups=groups)

        cls.plain = user("acl_plain", "base.group_user")
        cls.agent = user("acl_agent", f"base.group_user,{USER}")
        cls.colleague = user("acl_colleague", f"base.group_user,{USER}")
        cls.manager = user("acl_manager", f"base.group_user,{MANAGER}")
        cls.salesman = user("acl_salesman", "sales_team.group_sale_salesman")
        cls.sales_admin = user("acl_sales_admin", "sales_team.group_sale_manager")
        cls.hr_officer = user("acl_hr_officer", "hr.group_hr_user")
        cls.hr_admin = user("acl_hr_admin", "hr.group_hr_manager")

        Call = cls.env["vpbx.call"]

        def call(call_id, user=None):
            return Call.create(
                {
                    "vpbx_call_id": call_id,
                    "company_id": cls.company.id,
                    "customer_number": "0912000111",
                    "user_id": user.id if user else False,
                }
            )

        cls.own = call("ACL-OWN", cls.agent)
        cls.theirs = call("ACL-THEIRS", cls.colleague)
        cls.unassigned = call("ACL-NOBODY")
        cls.sales_call = call("ACL-SALES", cls.salesman)
        cls.officer_call = call("ACL-HR", cls.hr_officer)
        cls.calls = cls.own | cls.theirs | cls.unassigned | cls.sales_call | cls.officer_call
        # an event whose body is a real call record: replaying it logs that call
        cls.event = cls.env["vpbx.webhook.event"]._vpbx_store(
            cls.company,
            json.dumps(call_payload("ACL-REPLAY", sip_user="7777")).encode(),
            "application/json",
            "127.0.0.1",
        )
        cls.employee = cls.env["hr.employee"].create(
            {"name": "ACL Employee", "vpbx_extension": "7001", "vpbx_password": PASSWORD}
        )

    # ------------------------------------------------------------------ helpers

    def visible_calls(self, user):
        records = self.rpc(
            user, "vpbx.call", "search_read", [[("id", "in", self.calls.ids)], ["vpbx_call_id"]]
        )
        return {record["vpbx_call_id"] for record in records}

    def assertNoVpbxData(self, user):
        """Neither calls, events, imports, phone keys nor the company's secrets."""
        for model in ("vpbx.call", "vpbx.webhook.event", "vpbx.history.import"):
            with self.subTest(login=user.login, model=model):
                self.assertDenied(user, model, "search_read", [[], ["id"]])
        self.assertDenied(user, "vpbx.call", "read", [self.unassigned.ids, ["customer_number"]])
        self.assertDenied(user, "vpbx.webhook.event", "read", [self.event.ids, ["body"]])
        self.assertDenied(user, "vpbx.partner.phone", "search_read", [[], ["key"]])
        for fname in ("vpbx_api_key", "vpbx_webhook_token", "vpbx_webhook_url"):
            with self.subTest(login=user.login, field=fname):
                self.assertDenied(user, "res.company", "read", [self.company.ids, [fname]])
        self.assertDenied(user, "res.company", "search_count", [[("vpbx_api_key", "=", API_KEY)]])

    def assertCannotConfigure(self, user):
        """No settings, no company secret written, no action on the PBX, no provisioning."""
        self.assertDenied(user, "res.company", "write", [self.company.ids, {"vpbx_api_key": "x"}])
        self.assertDenied(user, "res.config.settings", "create", [{"vpbx_api_key": "x"}])
        for method in (
            "action_vpbx_regenerate_webhook_token",
            "action_vpbx_test_connection",
            "action_vpbx_sync_now",
            "action_vpbx_register_webhook",
            "action_vpbx_list_webhooks",
            "action_vpbx_remove_webhook",
        ):
            with self.subTest(login=user.login, method=method):
                self.assertDenied(user, "res.company", method, [self.company.ids])
        self.assertDenied(user, "hr.employee", "action_vpbx_invite", [self.employee.ids])
        self.assertDenied(user, "hr.employee", "action_vpbx_fetch", [self.employee.ids])
        self.assertDenied(user, "vpbx.webhook.event", "action_vpbx_replay", [self.event.ids])
        company = self.company.sudo()
        self.assertEqual(company.vpbx_api_key, API_KEY)
        self.assertEqual(company.vpbx_webhook_token, self.token)
        self.assertEqual(self.event.state, "new")

    # ------------------------------------------------------------------ groups
    def test_implied_groups(self):
        expected = {
            self.plain: (False, False),
            self.agent: (True, False),
            self.salesman: (True, False),
            self.sales_admin: (True, False),
            self.hr_officer: (True, False),
            self.hr_admin: (True, True),
            self.manager: (True, True),
            self.env.ref("base.user_admin"): (True, True),
        }
        for user, (is_user, is_manager) in expected.items():
            with self.subTest(login=user.login):
                self.assertEqual(user.has_group(USER), is_user)
                self.assertEqual(user.has_group(MANAGER), is_manager)

    # ------------------------------------------------------------------ plain internal user
    def test_plain_user_sees_nothing(self):
        self.assertNoVpbxData(self.plain)
        self.assertCannotConfigure(self.plain)

    # ------------------------------------------------------------------ VPBX users
    def test_vpbx_user_own_and_unassigned_calls(self):
        self.assertEqual(self.visible_calls(self.agent), {"ACL-OWN", "ACL-NOBODY"})
        records = self.rpc(
            self.agent, "vpbx.call", "read", [self.own.ids, ["customer_number", "user_id"]]
        )
        self.assertEqual(records[0]["user_id"][0], self.agent.id)
        self.assertDenied(self.agent, "vpbx.call", "read", [self.theirs.ids, ["customer_number"]])
        self.assertDenied(self.agent, "vpbx.call", "read", [self.own.ids, ["webhook_event_ids"]])
        # the call log is the PBX's: read-only, no call made up by hand
        self.assertDenied(self.agent, "vpbx.call", "write", [self.own.ids, {"status": "missed"}])
        self.assertDenied(self.agent, "vpbx.call", "create", [{"vpbx_call_id": "FAKE"}])
        self.assertDenied(self.agent, "vpbx.call", "unlink", [self.unassigned.ids])

    def test_vpbx_user_works_on_own_calls(self):
        """Notes on the calls the user sees; none on a colleague's."""
        kwargs = {"body": "Called back, wants a quote", "message_type": "comment"}
        for call in (self.own, self.unassigned):
            with self.subTest(call=call.vpbx_call_id):
                self.rpc(self.agent, "vpbx.call", "message_post", [call.ids], kwargs)
                self.assertIn("wants a quote", call.message_ids[:1].body)
        self.assertDenied(self.agent, "vpbx.call", "message_post", [self.theirs.ids], kwargs)
        self.assertFalse(self.theirs.message_ids.filtered(lambda m: "quote" in (m.body or "")))

    def test_vpbx_user_no_diagnostics_no_settings(self):
        for model in ("vpbx.webhook.event", "vpbx.history.import", "vpbx.partner.phone"):
            with self.subTest(model=model):
                self.assertDenied(self.agent, model, "search_read", [[], ["id"]])
        for fname in ("vpbx_api_key", "vpbx_webhook_token", "vpbx_webhook_url"):
            with self.subTest(field=fname):
                self.assertDenied(self.agent, "res.company", "read", [self.company.ids, [fname]])
        self.assertCannotConfigure(self.agent)
        self.assertDenied(self.agent, "hr.employee", "read", [self.employee.ids, ["vpbx_password"]])

    def test_salesman_is_vpbx_user(self):
        self.assertEqual(self.visible_calls(self.salesman), {"ACL-SALES", "ACL-NOBODY"})
        self.assertDenied(self.salesman, "vpbx.webhook.event", "search_read", [[], ["id"]])
        self.assertCannotConfigure(self.salesman)
        # a sales administrator is a VPBX user too, not a VPBX manager
        self.assertEqual(self.visible_calls(self.sales_admin), {"ACL-NOBODY"})

    def test_hr_officer_is_vpbx_user(self):
        self.assertEqual(self.visible_calls(self.hr_officer), {"ACL-HR", "ACL-NOBODY"})
        self.assertDenied(self.hr_officer, "vpbx.webhook.event", "search_read", [[], ["id"]])
        self.assertCannotConfigure(self.hr_officer)

    # ------------------------------------------------------------------ VPBX managers
    def test_manager_sees_everything_and_replays(self):
        for manager in (self.manager, self.hr_admin):
            with self.subTest(login=manager.login):
                self.assertEqual(
                    self.visible_calls(manager),
                    {"ACL-OWN", "ACL-THEIRS", "ACL-NOBODY", "ACL-SALES", "ACL-HR"},
                )
                events = self.rpc(
                    manager, "vpbx.webhook.event", "search_read", [[], ["id", "state"]]
                )
                self.assertIn(self.event.id, [event["id"] for event in events])
                records = self.rpc(
                    manager, "res.company", "read", [self.company.ids, ["vpbx_api_key"]]
                )
                self.assertEqual(records[0]["vpbx_api_key"], API_KEY)
        self.rpc(self.manager, "vpbx.webhook.event", "action_vpbx_replay", [self.event.ids])
        self.env.invalidate_all()
        self.assertEqual(self.event.state, "processed")
        self.assertEqual(self.event.call_ids.vpbx_call_id, "ACL-REPLAY")
        # the manager's own work: a new webhook URL, history imports
        self.rpc(
            self.manager, "res.company", "action_vpbx_regenerate_webhook_token", [self.company.ids]
        )
        self.env.invalidate_all()
        self.assertNotEqual(self.company.sudo().vpbx_webhook_token, self.token)
        import_id = self.rpc(
            self.manager,
            "vpbx.history.import",
            "create",
            [{"date_from": "2025-01-01 00:00:00", "date_to": "2025-01-02 00:00:00"}],
        )
        self.assertTrue(self.env["vpbx.history.import"].browse(import_id).exists())

    def test_settings_need_settings_administrator(self):
        """Odoo's settings screen is for Settings administrators; the VPBX app in it (and its
        menu) for those of them who are VPBX managers."""
        self.assertDenied(self.manager, "res.config.settings", "create", [{}])
        menu = self.env.ref("sentech_vpbx.menu_vpbx_settings")
        self.assertNotIn(
            menu.id, self.env["ir.ui.menu"].with_user(self.manager)._visible_menu_ids()
        )
        admin = self.env.ref("base.user_admin")
        self.assertIn(menu.id, self.env["ir.ui.menu"].with_user(admin)._visible_menu_ids())
        admin.password = password(admin.login)
        settings_id = self.rpc(admin, "res.config.settings", "create", [{"vpbx_api_key": "k2"}])
        self.rpc(admin, "res.config.settings", "execute", [[settings_id]])
        self.assertEqual(self.company.sudo().vpbx_api_key, "k2")

    # ------------------------------------------------------------------ secrets
    def test_secret_fields_carry_groups(self):
        expected = {
            ("res.company", "vpbx_api_key"): MANAGER,
            ("res.company", "vpbx_webhook_token"): MANAGER,
            ("res.company", "vpbx_webhook_url"): MANAGER,
            ("res.company", "vpbx_access_token"): "base.group_system",
            ("res.company", "vpbx_token_expiry"): "base.group_system",
            ("res.config.settings", "vpbx_api_key"): MANAGER,
            ("res.config.settings", "vpbx_webhook_url"): MANAGER,
            ("hr.employee", "vpbx_password"): MANAGER,
        }
        for (model, fname), groups in expected.items():
            with self.subTest(model=model, field=fname):
                field = self.env[model]._fields[fname]
                self.assertEqual(field.groups, groups)
                self.assertFalse(getattr(field, "tracking", None))
                self.assertFalse(field.copy)

    def test_secrets_never_in_chatter(self):
        """Writing a password or a key leaves no trace in any message or tracking value."""
        self.rpc(
            self.hr_admin,
            "hr.employee",
            "write",
            [self.employee.ids, {"vpbx_password": "acl-New!Pw-3391", "vpbx_extension": "7002"}],
        )
        self.env.invalidate_all()
        self.assertEqual(self.employee.vpbx_password, "acl-New!Pw-3391")
        self.assertEqual(self.employee.vpbx_extension, "7002")
        Message = self.env["mail.message"]
        Tracking = self.env["mail.tracking.value"]
        for secret in ("acl-New!Pw-3391", PASSWORD, API_KEY, self.token):
            with self.subTest(secret=secret):
                self.assertFalse(Message.search_count([("body", "ilike", secret)]))
                self.assertFalse(
                    Tracking.search_count(
                        [
                            "|",
                            ("old_value_char", "ilike", secret),
                            ("new_value_char", "ilike", secret),
                        ]
                    )
                )
        # the extension itself is tracked (it is no secret): tracking works, secrets are left out
        tracked = Tracking.search([("mail_message_id.res_id", "=", self.employee.id)])
        self.assertIn("vpbx_extension", tracked.field_id.mapped("name"))
        self.assertNotIn("vpbx_password", tracked.field_id.mapped("name"))
