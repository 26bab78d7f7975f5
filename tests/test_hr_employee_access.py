"""Who can read an extension password, through the ORM and through RPC."""

from odoo.exceptions import AccessError
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tests.common import JsonRpcException
from odoo.tools import mute_logger

from ..const import GROUP_MANAGER as MANAGER
from .common import make_pbx

SECRET_OWN = "Own!Secret-7731"
SECRET_OTHER = "Other!Secret-4410"
DENIALS = ("odoo.exceptions.AccessError", "builtins.ValueError", "builtins.KeyError")


@tagged("post_install", "-at_install")
class TestHrEmployeeAccess(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # the employees' extensions belong to it (the company's first account)
        cls.pbx = make_pbx(cls.env, name="Access PBX")
        cls.plain = new_test_user(
            cls.env, login="vpbx_plain", password="vpbx_plain_pw1", groups="base.group_user"
        )
        cls.sales = new_test_user(
            cls.env,
            login="vpbx_sales",
            password="vpbx_sales_pw1",
            groups="base.group_user,sentech_vpbx.group_vpbx_user",
        )
        cls.officer = new_test_user(
            cls.env,
            login="vpbx_officer",
            password="vpbx_officer_pw1",
            groups="base.group_user,hr.group_hr_user",
        )
        cls.manager = new_test_user(
            cls.env,
            login="vpbx_manager",
            password="vpbx_manager_pw1",
            groups=f"base.group_user,hr.group_hr_user,{MANAGER}",
        )
        Employee = cls.env["hr.employee"]
        cls.own = Employee.create(
            {
                "name": "Plain Own",
                "user_id": cls.plain.id,
                "vpbx_extension": "101",
                "vpbx_domain": "pbx.example.vn",
                "vpbx_password": SECRET_OWN,
            }
        )
        cls.other = Employee.create(
            {
                "name": "Someone Else",
                "vpbx_extension": "102",
                "vpbx_domain": "pbx.example.vn",
                "vpbx_password": SECRET_OTHER,
            }
        )
        cls.officer_employee = Employee.create(
            {
                "name": "Officer Own",
                "user_id": cls.officer.id,
                "vpbx_extension": "103",
                "vpbx_password": "Officer!Pw-1",
            }
        )

    # ------------------------------------------------------------------ helpers
    def call_kw(self, login, model, method, args, kwargs=None):
        self.authenticate(login, f"{login}_pw1")
        return self.make_jsonrpc_request(
            f"/web/dataset/call_kw/{model}/{method}",
            {"model": model, "method": method, "args": args, "kwargs": kwargs or {}},
        )

    def assertRpcDenied(self, login, model, method, args, kwargs=None):
        with mute_logger("odoo.http", "odoo.models"), self.assertRaises(JsonRpcException) as cm:
            self.call_kw(login, model, method, args, kwargs)
        # an access error, or "no such field" on the public model: never the value
        self.assertIn(str(cm.exception), DENIALS, f"{model}.{method}")
        self.assertNotIn(SECRET_OWN, str(cm.exception))
        self.assertNotIn(SECRET_OTHER, str(cm.exception))
        return cm.exception

    def secret_paths(self, employee):
        """Every RPC a user could try to read the password of ``employee``."""
        ids = [employee.id]
        return [
            ("hr.employee", "read", [ids, ["vpbx_password"]], {}),
            ("hr.employee", "search_read", [[("id", "in", ids)], ["vpbx_password"]], {}),
            ("hr.employee", "web_read", [ids], {"specification": {"vpbx_password": {}}}),
            ("hr.employee", "search_count", [[("vpbx_password", "=", SECRET_OTHER)]], {}),
            ("hr.employee.public", "read", [ids, ["vpbx_password"]], {}),
            ("hr.employee.public", "search_read", [[("id", "in", ids)], ["vpbx_password"]], {}),
            (
                "hr.employee.public",
                "web_read",
                [ids],
                {"specification": {"employee_id": {"fields": {"vpbx_password": {}}}}},
            ),
        ]

    # ------------------------------------------------------------------ plain internal user
    def test_plain_user_cannot_read_passwords(self):
        for employee in (self.own, self.other):
            for model, method, args, kwargs in self.secret_paths(employee):
                with self.subTest(employee=employee.name, model=model, method=method):
                    self.assertRpcDenied("vpbx_plain", model, method, args, kwargs)

    def test_plain_user_reads_own_softphone_password_only(self):
        for model in ("hr.employee", "hr.employee.public"):
            with self.subTest(model=model):
                records = self.call_kw(
                    "vpbx_plain",
                    model,
                    "read",
                    [
                        [self.own.id, self.other.id],
                        ["vpbx_extension", "vpbx_pbx_id", "vpbx_softphone_password"],
                    ],
                )
                by_id = {r["id"]: r for r in records}
                self.assertEqual(by_id[self.own.id]["vpbx_softphone_password"], SECRET_OWN)
                self.assertEqual(by_id[self.own.id]["vpbx_extension"], "101")
                self.assertFalse(by_id[self.other.id]["vpbx_softphone_password"])
                # colleagues' extensions are public, like a work phone, and so is their account
                self.assertEqual(by_id[self.other.id]["vpbx_extension"], "102")
                self.assertEqual(by_id[self.other.id]["vpbx_pbx_id"], [self.pbx.id, "Access PBX"])
                records = self.call_kw(
                    "vpbx_plain",
                    model,
                    "search_read",
                    [[("id", "in", [self.own.id, self.other.id])], ["vpbx_softphone_password"]],
                )
                values = {r["id"]: r["vpbx_softphone_password"] for r in records}
                self.assertEqual(values, {self.own.id: SECRET_OWN, self.other.id: False})

    def test_plain_user_cannot_write_password(self):
        self.assertRpcDenied(
            "vpbx_plain", "hr.employee", "write", [[self.own.id], {"vpbx_password": "x"}]
        )
        self.assertEqual(self.own.vpbx_password, SECRET_OWN)

    def test_vpbx_sales_user_same_as_plain(self):
        for model, method, args, kwargs in self.secret_paths(self.other):
            with self.subTest(model=model, method=method):
                self.assertRpcDenied("vpbx_sales", model, method, args, kwargs)

    # ------------------------------------------------------------------ HR officer
    def test_hr_officer_is_not_vpbx_manager(self):
        for model, method, args, kwargs in self.secret_paths(self.other)[:4]:
            with self.subTest(model=model, method=method):
                self.assertRpcDenied("vpbx_officer", model, method, args, kwargs)
        # the employee form loads without the password, and state is visible
        records = self.call_kw(
            "vpbx_officer",
            "hr.employee",
            "web_read",
            [[self.other.id, self.officer_employee.id]],
            {
                "specification": {
                    "vpbx_extension": {},
                    "vpbx_state": {},
                    "vpbx_softphone_password": {},
                }
            },
        )
        by_id = {r["id"]: r for r in records}
        self.assertEqual(by_id[self.other.id]["vpbx_state"], "provisioned")
        self.assertFalse(by_id[self.other.id]["vpbx_softphone_password"])
        self.assertEqual(by_id[self.officer_employee.id]["vpbx_softphone_password"], "Officer!Pw-1")
        # the form view has no password field for them
        views = self.call_kw(
            "vpbx_officer", "hr.employee", "get_views", [], {"views": [[False, "form"]]}
        )
        arch = views["views"]["form"]["arch"]
        self.assertIn("vpbx_extension", arch)
        self.assertNotIn('name="vpbx_password"', arch)

    # ------------------------------------------------------------------ VPBX manager
    def test_manager_reads_passwords(self):
        records = self.call_kw(
            "vpbx_manager",
            "hr.employee",
            "read",
            [[self.own.id, self.other.id], ["vpbx_password", "vpbx_softphone_password"]],
        )
        by_id = {r["id"]: r for r in records}
        self.assertEqual(by_id[self.own.id]["vpbx_password"], SECRET_OWN)
        self.assertEqual(by_id[self.other.id]["vpbx_password"], SECRET_OTHER)
        self.assertEqual(by_id[self.other.id]["vpbx_softphone_password"], SECRET_OTHER)
        records = self.call_kw(
            "vpbx_manager",
            "hr.employee",
            "search_read",
            [[("vpbx_extension", "=", "102")], ["vpbx_password"]],
        )
        self.assertEqual(records[0]["vpbx_password"], SECRET_OTHER)
        views = self.call_kw(
            "vpbx_manager", "hr.employee", "get_views", [], {"views": [[False, "form"]]}
        )
        self.assertIn('name="vpbx_password"', views["views"]["form"]["arch"])
        self.assertIn("action_vpbx_invite", views["views"]["form"]["arch"])
        # manual entry
        self.call_kw(
            "vpbx_manager", "hr.employee", "write", [[self.other.id], {"vpbx_password": "N3w!pw"}]
        )
        self.assertEqual(self.other.vpbx_password, "N3w!pw")

    def test_company_api_key_manager_only(self):
        self.pbx.api_key = "company-key-secret-99"
        for login in ("vpbx_plain", "vpbx_sales", "vpbx_officer"):
            with self.subTest(login=login):
                with mute_logger("odoo.http", "odoo.models"), self.assertRaises(JsonRpcException):
                    self.call_kw(login, "vpbx.pbx", "read", [[self.pbx.id], ["api_key"]])
        records = self.call_kw("vpbx_manager", "vpbx.pbx", "read", [[self.pbx.id], ["api_key"]])
        self.assertEqual(records[0]["api_key"], "company-key-secret-99")

    # ------------------------------------------------------------------ ORM
    def test_orm_access(self):
        other = self.other.with_user(self.plain)
        with self.assertRaises(AccessError):
            other.read(["vpbx_password"])
        with self.assertRaises(AccessError):
            other.search_read([("id", "=", self.other.id)], ["vpbx_password"])
        # reading public fields does not drag the password along (own prefetch group)
        self.assertEqual(other.name, "Someone Else")
        self.assertEqual(other.vpbx_extension, "102")
        self.assertFalse(other.vpbx_softphone_password)
        self.assertEqual(self.own.with_user(self.plain).vpbx_softphone_password, SECRET_OWN)
        # a VPBX manager without HR rights can browse employees without errors
        pure_manager = new_test_user(
            self.env, login="vpbx_pure_manager", groups=f"base.group_user,{MANAGER}"
        )
        employee = self.other.with_user(pure_manager)
        self.assertEqual(employee.name, "Someone Else")
        self.assertEqual(employee.vpbx_softphone_password, SECRET_OTHER)

    def test_neutralize_clears_passwords(self):
        from odoo.modules.neutralize import get_neutralization_queries

        queries = list(get_neutralization_queries(["sentech_vpbx"]))
        self.assertTrue(any("vpbx_password" in q for q in queries))
        for query in queries:
            if "hr_employee" in query:
                self.env.cr.execute(query)
        self.env.invalidate_all()
        self.assertFalse(self.own.vpbx_password)
        self.assertFalse(self.other.vpbx_password)
        self.assertEqual(self.own.vpbx_extension, "101")
        self.assertEqual(self.own.vpbx_pbx_id, self.pbx)
