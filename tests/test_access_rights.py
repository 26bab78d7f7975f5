"""Who may do what, through JSON-RPC as each role (issue #7).

Roles: a plain internal user (no VPBX group), a VPBX user, a salesman (Sales / User: own
documents, which implies VPBX user), HR officer (VPBX user) and HR administrator (VPBX
manager), a VPBX manager who is not a Settings administrator.
"""

import json

from odoo.tests import HttpCase, new_test_user, tagged

from ..const import GROUP_MANAGER as MANAGER
from ..const import GROUP_SYSTEM as SYSTEM
from ..const import GROUP_USER as USER
from .common import PBX_BUTTONS, call_payload, make_pbx
from .rpc_common import RpcAsUserMixin, password

API_KEY = "acl-Secret-Key-5521"
ACCESS_TOKEN = "acl-Access-Token-6630"
PASSWORD = "acl-Ext!Pw-8843"
#: Fields of a PBX account that only some may read: field -> group
PBX_SECRETS = {
    "api_key": MANAGER,
    "webhook_token": MANAGER,
    "webhook_url": MANAGER,
    "access_token": SYSTEM,
    "token_expiry": SYSTEM,
}


@tagged("post_install", "-at_install")
class TestAccessRights(RpcAsUserMixin, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.company.country_id = cls.env.ref("base.vn")
        cls.pbx = make_pbx(cls.env, api_key=API_KEY, hotline="842800000001")
        # a cached PBX access token, as the client stores it (by SQL: never through a form)
        cls.env.cr.execute(
            "UPDATE vpbx_pbx SET access_token = %s, token_expiry = now() + interval '1 hour'"
            " WHERE id = %s",
            [ACCESS_TOKEN, cls.pbx.id],
        )
        cls.pbx.invalidate_recordset()
        cls.token = cls.pbx.sudo().webhook_token
        cls.sync_state = cls.env["vpbx.sync.state"]._vpbx_state_of(cls.pbx)

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
                    "pbx_id": cls.pbx.id,
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
        # (stored as received and not processed: _vpbx_receive commits, a test may not)
        cls.event = cls.env["vpbx.webhook.event"].create(
            {
                "pbx_id": cls.pbx.id,
                "body": json.dumps(call_payload("ACL-REPLAY", sip_user="7777")),
                "content_type": "application/json",
                "remote_addr": "127.0.0.1",
            }
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

    def assertPbxSecretsDenied(self, user, fnames=tuple(PBX_SECRETS)):
        """None of `fnames` of the PBX account can be read, nor searched on."""
        for fname in fnames:
            with self.subTest(login=user.login, field=fname):
                self.assertDenied(user, "vpbx.pbx", "read", [self.pbx.ids, [fname]])
        self.assertDenied(user, "vpbx.pbx", "search_count", [[("api_key", "=", API_KEY)]])
        self.assertDenied(user, "vpbx.pbx", "search_count", [[("webhook_token", "=", self.token)]])

    def assertNoVpbxData(self, user):
        """Neither calls, events, imports, phone keys, PBX accounts nor their secrets."""
        for model in (
            "vpbx.call",
            "vpbx.webhook.event",
            "vpbx.history.import",
            "vpbx.pbx",
            "vpbx.sync.state",
        ):
            with self.subTest(login=user.login, model=model):
                self.assertDenied(user, model, "search_read", [[], ["id"]])
        self.assertDenied(user, "vpbx.call", "read", [self.unassigned.ids, ["customer_number"]])
        self.assertDenied(user, "vpbx.webhook.event", "read", [self.event.ids, ["body"]])
        self.assertDenied(user, "vpbx.partner.phone", "search_read", [[], ["key"]])
        self.assertDenied(user, "vpbx.pbx", "read", [self.pbx.ids, ["name"]])
        self.assertPbxSecretsDenied(user)

    def assertCannotConfigure(self, user):
        """No settings, no PBX account or secret written, no action on the PBX, no
        provisioning."""
        self.assertDenied(user, "vpbx.pbx", "write", [self.pbx.ids, {"api_key": "x"}])
        self.assertDenied(user, "vpbx.pbx", "write", [self.pbx.ids, {"hotline": "x"}])
        self.assertDenied(user, "vpbx.pbx", "create", [{"name": "ACL PBX", "api_key": "x"}])
        self.assertDenied(user, "vpbx.pbx", "unlink", [self.pbx.ids])
        self.assertDenied(user, "res.config.settings", "create", [{}])
        for method in PBX_BUTTONS:
            with self.subTest(login=user.login, method=method):
                self.assertDenied(user, "vpbx.pbx", method, [self.pbx.ids])
        self.assertDenied(user, "hr.employee", "action_vpbx_invite", [self.employee.ids])
        self.assertDenied(user, "hr.employee", "action_vpbx_fetch", [self.employee.ids])
        self.assertDenied(user, "vpbx.webhook.event", "action_vpbx_replay", [self.event.ids])
        pbx = self.pbx.sudo()
        self.assertTrue(pbx.exists())
        self.assertEqual(pbx.api_key, API_KEY)
        self.assertEqual(pbx.webhook_token, self.token)
        self.assertEqual(pbx.access_token, ACCESS_TOKEN)
        self.assertEqual(pbx.hotline, "842800000001")
        self.assertEqual(self.env["vpbx.pbx"].search_count([("name", "=", "ACL PBX")]), 0)
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
        self.assertDenied(
            self.agent, "vpbx.call", "create", [{"vpbx_call_id": "FAKE", "pbx_id": self.pbx.id}]
        )
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
        for model in (
            "vpbx.webhook.event",
            "vpbx.history.import",
            "vpbx.partner.phone",
            "vpbx.sync.state",
        ):
            with self.subTest(model=model):
                self.assertDenied(self.agent, model, "search_read", [[], ["id"]])
        # the PBX account itself is no secret (a call links to it): its secrets are
        records = self.rpc(
            self.agent, "vpbx.pbx", "read", [self.pbx.ids, ["name", "company_id", "hotline"]]
        )
        self.assertEqual(records[0]["name"], self.pbx.name)
        self.assertEqual(records[0]["company_id"][0], self.company.id)
        # the account's form, opened from a call, loads without its secrets
        views = self.rpc(self.agent, "vpbx.pbx", "get_views", [], {"views": [[False, "form"]]})
        fnames = views["models"]["vpbx.pbx"]["fields"]
        self.assertIn("sync_last_run", fnames)
        for fname in PBX_SECRETS:
            self.assertNotIn(fname, fnames)
            self.assertNotIn(f'<field name="{fname}"', views["views"]["form"]["arch"])
        (record,) = self.rpc(
            self.agent,
            "vpbx.pbx",
            "web_read",
            [self.pbx.ids],
            {"specification": {fname: {} for fname in fnames}},
        )
        self.assertEqual(record["hotline"], "842800000001")
        self.assertPbxSecretsDenied(self.agent)
        self.assertCannotConfigure(self.agent)
        self.assertDenied(self.agent, "hr.employee", "read", [self.employee.ids, ["vpbx_password"]])

    def test_vpbx_user_reads_whole_account(self):
        """A read of every field (no field list, as an export or a script does) gives the
        account without its secrets."""
        found = self.rpc(self.agent, "vpbx.pbx", "search_read", [[("id", "=", self.pbx.id)], []])
        self.assertEqual([record["id"] for record in found], self.pbx.ids)
        self.assertEqual(found[0]["name"], self.pbx.name)
        for fname in PBX_SECRETS:
            self.assertNotIn(fname, found[0])

    def test_salesman_is_vpbx_user(self):
        self.assertEqual(self.visible_calls(self.salesman), {"ACL-SALES", "ACL-NOBODY"})
        self.assertDenied(self.salesman, "vpbx.webhook.event", "search_read", [[], ["id"]])
        self.assertPbxSecretsDenied(self.salesman)
        self.assertCannotConfigure(self.salesman)
        # a sales administrator is a VPBX user too, not a VPBX manager
        self.assertEqual(self.visible_calls(self.sales_admin), {"ACL-NOBODY"})
        self.assertPbxSecretsDenied(self.sales_admin)

    def test_hr_officer_is_vpbx_user(self):
        self.assertEqual(self.visible_calls(self.hr_officer), {"ACL-HR", "ACL-NOBODY"})
        self.assertDenied(self.hr_officer, "vpbx.webhook.event", "search_read", [[], ["id"]])
        self.assertPbxSecretsDenied(self.hr_officer)
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
                    manager,
                    "vpbx.pbx",
                    "read",
                    [self.pbx.ids, ["api_key", "webhook_token", "webhook_url"]],
                )
                self.assertEqual(records[0]["api_key"], API_KEY)
                self.assertEqual(records[0]["webhook_token"], self.token)
                self.assertTrue(records[0]["webhook_url"].endswith(f"/vpbx/webhook/{self.token}"))
                states = self.rpc(manager, "vpbx.sync.state", "search_read", [[], ["pbx_id"]])
                self.assertIn(self.sync_state.id, [state["id"] for state in states])
                # the cached PBX access token is for the system only, not for VPBX managers
                for fname in ("access_token", "token_expiry"):
                    self.assertDenied(manager, "vpbx.pbx", "read", [self.pbx.ids, [fname]])
                # the sync state is written by the sync only
                self.assertDenied(
                    manager, "vpbx.sync.state", "write", [self.sync_state.ids, {"cursor": False}]
                )
        self.rpc(self.manager, "vpbx.webhook.event", "action_vpbx_replay", [self.event.ids])
        self.env.invalidate_all()
        self.assertEqual(self.event.state, "processed")
        self.assertEqual(self.event.call_ids.vpbx_call_id, "ACL-REPLAY")
        # the manager's own work: a new webhook URL, the PBX account, history imports
        self.rpc(self.manager, "vpbx.pbx", "action_regenerate_webhook_token", [self.pbx.ids])
        self.env.invalidate_all()
        self.assertNotEqual(self.pbx.sudo().webhook_token, self.token)
        import_id = self.rpc(
            self.manager,
            "vpbx.history.import",
            "create",
            [
                {
                    "pbx_id": self.pbx.id,
                    "date_from": "2025-01-01 00:00:00",
                    "date_to": "2025-01-02 00:00:00",
                }
            ],
        )
        task = self.env["vpbx.history.import"].browse(import_id)
        self.assertTrue(task.exists())
        self.assertEqual(task.pbx_id, self.pbx)

    def test_manager_configures_pbx_account(self):
        """VPBX managers who are no Settings administrators set up the PBX accounts: a new URL
        or key drops the cached PBX access token (which they cannot read themselves)."""
        for manager, key in ((self.manager, "acl-Key-2"), (self.hr_admin, "acl-Key-3")):
            with self.subTest(login=manager.login):
                self.rpc(manager, "vpbx.pbx", "write", [self.pbx.ids, {"api_key": key}])
                self.env.invalidate_all()
                self.assertEqual(self.pbx.sudo().api_key, key)
                self.assertFalse(self.pbx.sudo().access_token)
        self.rpc(
            self.manager, "vpbx.pbx", "write", [self.pbx.ids, {"api_url": "https://pbx.example.vn"}]
        )
        self.rpc(self.manager, "vpbx.pbx", "write", [self.pbx.ids, {"hotline": "842800000002"}])
        self.env.invalidate_all()
        self.assertEqual(self.pbx.api_url, "https://pbx.example.vn")
        self.assertEqual(self.pbx.hotline, "842800000002")
        pbx_id = self.rpc(
            self.manager,
            "vpbx.pbx",
            "create",
            [{"name": "ACL Branch", "api_url": "https://branch.example.vn", "api_key": "b-key"}],
        )
        branch = self.env["vpbx.pbx"].browse(pbx_id)
        self.assertEqual(branch.company_id, self.company)
        self.assertEqual(branch.sudo().api_key, "b-key")
        self.assertTrue(branch.sudo().webhook_token)
        self.rpc(self.manager, "vpbx.pbx", "unlink", [[pbx_id]])
        self.assertFalse(branch.exists())

    def test_settings_need_settings_administrator(self):
        """Odoo's settings screen is for Settings administrators; the VPBX app in it (and its
        menu) for those of them who are VPBX managers. The accounts are set on their own form."""
        self.assertDenied(self.manager, "res.config.settings", "create", [{}])
        menu = self.env.ref("sentech_vpbx.menu_vpbx_settings")
        self.assertNotIn(
            menu.id, self.env["ir.ui.menu"].with_user(self.manager)._visible_menu_ids()
        )
        admin = self.env.ref("base.user_admin")
        self.assertIn(menu.id, self.env["ir.ui.menu"].with_user(admin)._visible_menu_ids())
        admin.password = password(admin.login)
        settings_id = self.rpc(admin, "res.config.settings", "create", [{}])
        (settings,) = self.rpc(
            admin, "res.config.settings", "read", [[settings_id], ["vpbx_pbx_count"]]
        )
        self.assertEqual(
            settings["vpbx_pbx_count"],
            self.env["vpbx.pbx"].search_count([("company_id", "=", self.company.id)]),
        )
        action = self.rpc(admin, "res.config.settings", "action_vpbx_open_pbx", [[settings_id]])
        self.assertEqual(action["res_model"], "vpbx.pbx")
        self.rpc(admin, "vpbx.pbx", "write", [self.pbx.ids, {"api_key": "k2"}])
        self.env.invalidate_all()
        self.assertEqual(self.pbx.sudo().api_key, "k2")

    # ------------------------------------------------------------------ secrets
    def test_secret_fields_carry_groups(self):
        expected = {("vpbx.pbx", fname): groups for fname, groups in PBX_SECRETS.items()}
        expected[("hr.employee", "vpbx_password")] = MANAGER
        for (model, fname), groups in expected.items():
            with self.subTest(model=model, field=fname):
                field = self.env[model]._fields[fname]
                self.assertEqual(field.groups, groups)
                self.assertFalse(getattr(field, "tracking", None))
                self.assertFalse(field.copy)
        # the company and the settings page hold no secret of the PBX any more
        for model in ("res.company", "res.config.settings"):
            with self.subTest(model=model):
                left = [
                    fname
                    for fname in self.env[model]._fields
                    if fname.startswith("vpbx_") and ("key" in fname or "token" in fname)
                ]
                self.assertFalse(left)

    def test_secrets_never_in_chatter(self):
        """Writing a password or a key leaves no trace in any message or tracking value."""
        self.rpc(
            self.hr_admin,
            "hr.employee",
            "write",
            [self.employee.ids, {"vpbx_password": "acl-New!Pw-3391", "vpbx_extension": "7002"}],
        )
        # (by a Settings administrator: test_manager_configures_pbx_account checks the rights)
        admin = self.env.ref("base.user_admin")
        admin.password = password(admin.login)
        self.rpc(admin, "vpbx.pbx", "write", [self.pbx.ids, {"api_key": "acl-New-Key-77"}])
        self.rpc(self.hr_admin, "vpbx.pbx", "action_regenerate_webhook_token", [self.pbx.ids])
        self.env.invalidate_all()
        self.assertEqual(self.employee.vpbx_password, "acl-New!Pw-3391")
        self.assertEqual(self.employee.vpbx_extension, "7002")
        pbx = self.pbx.sudo()
        self.assertEqual(pbx.api_key, "acl-New-Key-77")
        new_token = pbx.webhook_token
        self.assertNotEqual(new_token, self.token)
        Message = self.env["mail.message"]
        Tracking = self.env["mail.tracking.value"]
        secrets = (
            "acl-New!Pw-3391",
            PASSWORD,
            API_KEY,
            "acl-New-Key-77",
            self.token,
            new_token,
            ACCESS_TOKEN,
        )
        for secret in secrets:
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
        # a PBX account is no mail thread: nothing of it is tracked at all
        self.assertFalse(
            Message.search_count([("model", "=", "vpbx.pbx"), ("res_id", "=", self.pbx.id)])
        )
