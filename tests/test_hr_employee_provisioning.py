"""Provisioning employees on the PBX, against the VPBX simulator over loopback."""

import time
from unittest.mock import patch

import requests

from odoo.addons.sentech_vpbx.services.errors import PBX_MESSAGES
from odoo.addons.sentech_vpbx.tools.vpbx_simulator import VpbxSimulator, password_ok
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import TransactionCase, common, new_test_user, tagged
from odoo.tools.translate import code_translations

from .common import make_pbx

KEY = "sim-key-prov-8d2f41"
# Odoo's harness raises every time-out below 10 s to 10 s; the time-out test needs the real one.
_REAL_SEND = getattr(common, "_super_send", requests.Session.send)
VPBX_FIELDS = (
    "vpbx_domain",
    "vpbx_extension",
    "vpbx_password",
    "vpbx_state",
    "vpbx_last_error",
    "vpbx_agent_id",
)
INVITE_ERROR_CODES = (
    "limit_agent",
    "identify_info_invalid",
    "password_invalid",
    "role_is_required",
    "full_name_is_required",
    "invite_error",
    "data_is_required",
    "permission_denied",
    "tenant_disabled",
)


@tagged("post_install", "-at_install")
class TestHrEmployeeProvisioning(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.classPatch(requests.sessions.Session, "send", _REAL_SEND)
        cls.sim = VpbxSimulator(api_key=KEY, seed=11).start()
        cls.addClassCleanup(cls.sim.stop)
        cls.company = cls.env.company
        cls.pbx = make_pbx(cls.env, api_url=cls.sim.url, api_key=KEY, timeout=5)
        cls.manager = new_test_user(
            cls.env,
            login="vpbx_prov_manager",
            groups="base.group_user,hr.group_hr_user,sentech_vpbx.group_vpbx_manager",
        )
        cls.hr_officer = new_test_user(
            cls.env, login="vpbx_prov_officer", groups="base.group_user,hr.group_hr_user"
        )
        Employee = cls.env["hr.employee"].with_user(cls.manager)
        cls.an = Employee.create({"name": "Nguyễn Văn An", "work_email": "an@example.com"})
        cls.binh = Employee.create({"name": "Trần Thị Bình", "work_email": "binh@example.com"})
        cls.chau = Employee.create({"name": "Lê Minh Châu", "work_email": "chau@example.com"})

    def setUp(self):
        super().setUp()
        self.sim.reset()

    # ------------------------------------------------------------------ helpers
    def snapshot(self, employee):
        employee = employee.sudo()
        employee.invalidate_recordset()
        values = {fname: employee[fname] for fname in VPBX_FIELDS}
        values["messages"] = employee.message_ids.ids
        return values

    def phone(self, extension, sim=None):
        return (sim or self.sim).phones[extension]

    def invite_bodies(self):
        return [r["json"] for r in self.sim.calls_for("agent_invite")]

    def assertProvisioned(self, employee, extension, pbx=None, sim=None):
        employee = employee.sudo()
        sim = sim or self.sim
        phone = self.phone(extension, sim)
        self.assertEqual(employee.vpbx_pbx_id, pbx or self.pbx)
        self.assertEqual(employee.vpbx_extension, extension)
        self.assertEqual(employee.vpbx_password, phone["password"])
        self.assertEqual(employee.vpbx_domain, sim.domain)
        self.assertEqual(employee.vpbx_agent_id, phone["agent_id"])
        self.assertEqual(employee.vpbx_state, "provisioned")
        self.assertFalse(employee.vpbx_last_error)

    def assertNoPasswordInChatter(self, employee, password):
        employee = employee.sudo()
        for message in employee.message_ids:
            self.assertNotIn(password, message.body or "")
            for value in message.tracking_value_ids:
                self.assertNotIn(password, str(value.old_value_char or ""))
                self.assertNotIn(password, str(value.new_value_char or ""))

    # ------------------------------------------------------------------ invite
    def test_invite_payload_layout(self):
        self.sim.invite_layout = "payload"
        self._check_invite_layout()

    def test_invite_pbx_account_layout(self):
        self.sim.invite_layout = "pbx_account"
        self._check_invite_layout()

    def test_invite_root_layout(self):
        self.sim.invite_layout = "root"
        self._check_invite_layout()

    def _check_invite_layout(self):
        employee = self.an.with_user(self.manager)
        action = employee.action_vpbx_invite()
        self.assertEqual(action["params"]["type"], "success")
        self.assertProvisioned(employee, "101")
        # the reply carried everything: no look-up needed
        self.assertFalse(self.sim.calls_for("internal_phone_list"))
        (body,) = self.invite_bodies()
        self.assertEqual(body["full_name"], "Nguyễn Văn An")
        self.assertEqual(body["identify_info"], "an@example.com")
        self.assertEqual(body["role"], "agent")
        self.assertTrue(password_ok(body["password"]))
        # the PBX keeps the password it was sent; that is what the employee got
        self.assertEqual(employee.sudo().vpbx_password, body["password"])
        # a second invite would create a second agent: refused
        with self.assertRaises(UserError) as cm:
            employee.action_vpbx_invite()
        self.assertIn("already has the VPBX extension 101", cm.exception.args[0])
        self.assertEqual(len(self.sim.agents), 1)
        note = employee.sudo().message_ids[0]
        self.assertIn("101", note.body)
        self.assertIn(self.sim.domain, note.body)
        self.assertNoPasswordInChatter(employee, body["password"])

    def test_invite_configured_request_fields(self):
        self.pbx.write(
            {
                "invite_field_email": "email",
                "invite_field_password": False,
                "invite_field_role": False,
            }
        )
        self.chau.with_user(self.manager).action_vpbx_invite()
        (body,) = self.invite_bodies()
        self.assertEqual(body, {"full_name": "Lê Minh Châu", "email": "chau@example.com"})
        # the PBX chose the password: it came back in the reply
        self.assertProvisioned(self.chau, "101")

    def test_invite_configured_reply_paths(self):
        # paths pointing nowhere: the credentials are then read from the extension list
        self.pbx.write(
            {
                "invite_path_extension": "payload.nothing",
                "invite_path_password": "payload.nothing.password",
            }
        )
        self.sim.invite_layout = "root"
        self.binh.with_user(self.manager).action_vpbx_invite()
        self.assertTrue(self.sim.calls_for("internal_phone_list"))
        self.assertProvisioned(self.binh, "101")

    def test_invite_agent_exists_fetches(self):
        self.sim.add_agent("Nguyen Van An", "AN@example.com", extension="120", password="Ex1st!ng")
        employee = self.an.with_user(self.manager)
        action = employee.action_vpbx_invite()
        self.assertIn("already existed", action["params"]["message"])
        self.assertProvisioned(employee, "120")
        self.assertEqual(employee.sudo().vpbx_password, "Ex1st!ng")
        self.assertEqual(len(self.sim.agents), 1)

    def test_invite_agent_exists_without_extension_found(self):
        self.sim.inject_fault("agent_invite", "error", code="agent_exists")
        before = self.snapshot(self.an)
        with self.assertRaises(UserError) as cm:
            self.an.with_user(self.manager).action_vpbx_invite()
        self.assertIn("already exists on VPBX", cm.exception.args[0])
        self.assertIn("an@example.com", cm.exception.args[0])
        self.assertEqual(self.snapshot(self.an), before)

    def test_invite_error_codes_leave_employee_unchanged(self):
        employee = self.an.with_user(self.manager)
        for code in INVITE_ERROR_CODES:
            with self.subTest(code=code):
                self.sim.reset()
                before = self.snapshot(employee)
                self.sim.inject_fault("agent_invite", "error", code=code)
                with self.assertRaises(UserError) as cm:
                    employee.action_vpbx_invite()
                message = cm.exception.args[0]
                self.assertIn(PBX_MESSAGES[code], message)
                self.assertIn(f"({code})", message)
                self.assertIn(employee.name, message)
                self.assertEqual(self.snapshot(employee), before)
                self.assertFalse(self.sim.agents)

    def test_invite_error_is_translated(self):
        self.env["res.lang"]._activate_lang("vi_VN")
        # what loading i18n/vi.po puts in Odoo's table of code translations
        vi = {
            "Could not create %(employee)s on VPBX: %(reason)s": (
                "Không thể tạo %(employee)s trên VPBX: %(reason)s"
            ),
            PBX_MESSAGES["limit_agent"]: "Tài khoản VPBX đã đạt số agent tối đa",
        }
        self.sim.inject_fault("agent_invite", "error", code="limit_agent")
        with (
            patch.dict(code_translations.python_translations, {("sentech_vpbx", "vi_VN"): vi}),
            self.assertRaises(UserError) as cm,
        ):
            self.an.with_user(self.manager).with_context(lang="vi_VN").action_vpbx_invite()
        self.assertEqual(
            cm.exception.args[0],
            "Không thể tạo Nguyễn Văn An trên VPBX: Tài khoản VPBX đã đạt số agent tối đa"
            " (limit_agent)",
        )

    def test_invite_unknown_error_code(self):
        self.sim.inject_fault(
            "agent_invite", "error", code="quota_weird", message="Something odd happened"
        )
        before = self.snapshot(self.an)
        with self.assertRaises(UserError) as cm:
            self.an.with_user(self.manager).action_vpbx_invite()
        self.assertIn("Something odd happened", cm.exception.args[0])
        self.assertIn("quota_weird", cm.exception.args[0])
        self.assertEqual(self.snapshot(self.an), before)

    def test_invite_real_pbx_validation(self):
        # the simulator's own checks, not injected faults
        self.sim.require_role = True
        self.pbx.invite_field_role = False
        with self.assertRaises(UserError) as cm:
            self.an.with_user(self.manager).action_vpbx_invite()
        self.assertIn("(role_is_required)", cm.exception.args[0])
        self.sim.require_role = False
        self.sim.agent_limit = 0
        with self.assertRaises(UserError) as cm:
            self.an.with_user(self.manager).action_vpbx_invite()
        self.assertIn("(limit_agent)", cm.exception.args[0])
        employee = self.env["hr.employee"].create({"name": "Bad", "work_email": "not-an-email"})
        self.sim.agent_limit = None
        with self.assertRaises(UserError) as cm:
            employee.with_user(self.manager).action_vpbx_invite()
        self.assertIn("(identify_info_invalid)", cm.exception.args[0])

    def test_invite_http_500_leaves_employee_unchanged(self):
        self.sim.inject_fault("agent_invite", "http_500")
        before = self.snapshot(self.an)
        with self.assertRaises(UserError) as cm:
            self.an.with_user(self.manager).action_vpbx_invite()
        self.assertIn("500", cm.exception.args[0])
        self.assertEqual(self.snapshot(self.an), before)
        # an invite is not idempotent: never sent twice
        self.assertEqual(len(self.sim.calls_for("agent_invite")), 1)

    def test_invite_timeout_leaves_employee_unchanged(self):
        self.pbx.timeout = 0.5
        self.sim.inject_fault("agent_invite", "slow", delay=1.5)
        before = self.snapshot(self.an)
        with self.assertRaises(UserError) as cm:
            self.an.with_user(self.manager).action_vpbx_invite()
        self.assertIn("did not answer", cm.exception.args[0])
        self.assertEqual(self.snapshot(self.an), before)
        # the PBX went on and created the agent: inviting again fetches its credentials
        deadline = time.monotonic() + 10
        while not self.sim.agents and time.monotonic() < deadline:
            time.sleep(0.05)
        self.pbx.timeout = 5
        self.an.with_user(self.manager).action_vpbx_invite()
        self.assertProvisioned(self.an, "101")

    def test_invite_needs_work_email_and_manager(self):
        employee = self.env["hr.employee"].create({"name": "No Mail"})
        with self.assertRaises(UserError) as cm:
            employee.with_user(self.manager).action_vpbx_invite()
        self.assertIn("work e-mail", cm.exception.args[0])
        self.assertFalse(self.sim.requests_log)
        with self.assertRaises(AccessError):
            self.an.with_user(self.hr_officer).action_vpbx_invite()
        with self.assertRaises(AccessError):
            self.an.with_user(self.hr_officer).action_vpbx_fetch()
        self.assertFalse(self.sim.requests_log)

    def test_invite_not_configured(self):
        self.pbx.api_url = False
        with self.assertRaises(UserError) as cm:
            self.an.with_user(self.manager).action_vpbx_invite()
        self.assertIn("has no API URL", cm.exception.args[0])
        self.assertIn(self.pbx.name, cm.exception.args[0])
        self.pbx.write({"api_url": self.sim.url, "api_key": False})
        with self.assertRaises(UserError) as cm:
            self.an.with_user(self.manager).action_vpbx_fetch()
        self.assertIn("has no API key", cm.exception.args[0])
        self.assertFalse(self.sim.requests_log)

    def test_company_without_pbx_account(self):
        company = self.env["res.company"].create({"name": "No PBX Co"})
        self.manager.company_ids |= company
        employee = self.env["hr.employee"].create(
            {"name": "Nobody's Agent", "work_email": "nopbx@example.com", "company_id": company.id}
        )
        self.assertFalse(employee.vpbx_pbx_id)
        before = self.snapshot(employee)
        for action in ("action_vpbx_invite", "action_vpbx_fetch"):
            with self.subTest(action=action), self.assertRaises(UserError) as cm:
                getattr(employee.with_user(self.manager), action)()
            self.assertIn("No PBX Co has no PBX account", cm.exception.args[0])
        self.assertEqual(self.snapshot(employee), before)
        self.assertFalse(self.sim.requests_log)

    # ------------------------------------------------------------------ PBX accounts
    def test_invite_uses_employee_account(self):
        """An employee on a second account of the company is created on that account's PBX,
        with that account's invite settings."""
        other_sim = VpbxSimulator(api_key="sim-key-prov-other", seed=12).start()
        self.addCleanup(other_sim.stop)
        other = self.env["vpbx.pbx"].create(
            {
                "name": "Branch PBX",
                "company_id": self.company.id,
                "sequence": 50,
                "api_url": other_sim.url,
                "api_key": "sim-key-prov-other",
                "timeout": 5,
                "invite_role": "member",
                "invite_field_email": "email",
            }
        )
        self.an.vpbx_pbx_id = other
        self.an.with_user(self.manager).action_vpbx_invite()
        self.assertFalse(self.sim.requests_log, "the company's first account is not asked")
        (body,) = [r["json"] for r in other_sim.calls_for("agent_invite")]
        self.assertEqual(body["role"], "member")
        self.assertEqual(body["email"], "an@example.com")
        self.assertProvisioned(self.an, "101", pbx=other, sim=other_sim)
        # the first account's PBX hands out its own 101 to another employee: no clash
        self.binh.with_user(self.manager).action_vpbx_invite()
        self.assertProvisioned(self.binh, "101")

    def test_provisioning_sets_the_account(self):
        """An extension created or fetched without an account belongs to the company's first
        account afterwards."""
        for employee in (self.an, self.binh):
            employee.vpbx_pbx_id = False
        self.an.with_user(self.manager).action_vpbx_invite()
        self.assertProvisioned(self.an, "101")
        self.sim.add_agent("Bình", "binh@example.com", extension="140", password="B1nh!pwd")
        self.binh.with_user(self.manager).action_vpbx_fetch()
        self.assertProvisioned(self.binh, "140")

    # ------------------------------------------------------------------ fetch
    def test_fetch_by_email(self):
        self.sim.add_agent("Someone", "someone@example.com", extension="101")
        self.sim.add_agent("An", "An@Example.com", extension="110", password="F3tch!ed")
        employee = self.an.with_user(self.manager)
        employee.action_vpbx_fetch()
        self.assertProvisioned(employee, "110")
        (call,) = self.sim.calls_for("internal_phone_list")
        self.assertEqual(call["query"]["keyword"], "an@example.com")
        self.assertNoPasswordInChatter(employee, "F3tch!ed")

    def test_fetch_by_extension(self):
        # the PBX knows another e-mail; the extension typed on the employee finds it
        self.sim.add_agent("An", "an.nguyen@other.example", extension="101")
        self.sim.add_agent("X", "x@example.com", extension="1010")
        employee = self.an.with_user(self.manager)
        employee.vpbx_extension = "101"
        employee.action_vpbx_fetch()
        self.assertProvisioned(employee, "101")
        keywords = [c["query"]["keyword"] for c in self.sim.calls_for("internal_phone_list")]
        self.assertEqual(keywords, ["an@example.com", "101"])

    def test_fetch_no_match(self):
        self.sim.add_agent("Other", "other@example.com", extension="101")
        employee = self.an.with_user(self.manager)
        employee.vpbx_extension = "999"
        before = self.snapshot(employee)
        with self.assertRaises(UserError) as cm:
            employee.action_vpbx_fetch()
        message = cm.exception.args[0]
        self.assertIn("No extension on VPBX matches", message)
        self.assertIn("an@example.com", message)
        self.assertIn("999", message)
        self.assertEqual(self.snapshot(employee), before)

    def test_fetch_ambiguous(self):
        self.sim.add_agent("An One", "an1@example.com", extension="101")
        self.sim.add_agent("An Two", "an2@example.com", extension="102")
        # two extensions registered with one e-mail on the PBX
        self.sim.phones["101"]["email"] = "an@example.com"
        self.sim.phones["102"]["email"] = "AN@example.com"
        before = self.snapshot(self.an)
        with self.assertRaises(UserError) as cm:
            self.an.with_user(self.manager).action_vpbx_fetch()
        message = cm.exception.args[0]
        self.assertIn("Several extensions", message)
        self.assertIn("101", message)
        self.assertIn("102", message)
        for phone in self.sim.phones.values():
            self.assertNotIn(phone["password"], message)
        self.assertEqual(self.snapshot(self.an), before)
        # with the extension typed in, the match is no longer ambiguous
        self.an.with_user(self.manager).vpbx_extension = "102"
        self.an.with_user(self.manager).action_vpbx_fetch()
        self.assertProvisioned(self.an, "102")

    def test_fetch_pages_through_results(self):
        for i in range(60):
            self.sim.add_agent(f"Agent {i}", f"agent{i}@example.com")
        client = self.pbx._vpbx_client()
        items = self.an._vpbx_phone_items(client, "example.com")
        self.assertEqual(len(items), 60)
        self.assertEqual(len({item["sip_user"] for item in items}), 60)
        self.assertEqual(len(self.sim.calls_for("internal_phone_list")), 2)

    # ------------------------------------------------------------------ bulk
    def test_bulk_partial_failure(self):
        no_mail = self.env["hr.employee"].create({"name": "Không Email"})
        # a manually typed extension that the PBX will hand out to Bình: uniqueness fails
        self.env["hr.employee"].create({"name": "Holder of 102", "vpbx_extension": "102"})
        already = self.env["hr.employee"].create(
            {"name": "Đã Có", "vpbx_extension": "90", "vpbx_password": "Old!pass1"}
        )
        employees = (self.an | no_mail | self.binh | already | self.chau).with_user(self.manager)
        action = employees.action_vpbx_invite_bulk()
        self.assertEqual(action["res_model"], "vpbx.provision.result")
        result = self.env["vpbx.provision.result"].browse(action["res_id"])
        lines = {line.employee_id: line for line in result.line_ids}
        self.assertEqual(lines[self.an].status, "done")
        self.assertEqual(lines[no_mail].status, "failed")
        self.assertIn("work e-mail", lines[no_mail].message)
        self.assertEqual(lines[self.binh].status, "failed")
        self.assertIn("Holder of 102", lines[self.binh].message)
        self.assertEqual(lines[already].status, "skipped")
        self.assertEqual(lines[self.chau].status, "done")
        self.assertEqual(result.failed_count, 2)
        self.assertIn("2 provisioned, 2 failed, 1 skipped", result.summary)
        self.assertEqual(result.line_ids[0].status, "failed", "failures are listed first")
        self.assertProvisioned(self.an, "101")
        self.assertProvisioned(self.chau, "103")
        for employee in (no_mail, self.binh):
            failed = employee.sudo()
            self.assertEqual(failed.vpbx_state, "error")
            self.assertTrue(failed.vpbx_last_error)
            self.assertFalse(failed.vpbx_extension)
            self.assertFalse(failed.vpbx_password)
        # Bình's savepoint was rolled back: no note about an extension on its chatter
        self.assertFalse(any("102" in (m.body or "") for m in self.binh.sudo().message_ids))
        self.assertEqual(already.sudo().vpbx_password, "Old!pass1")
        # a later success clears the error
        self.sim.add_agent("Không Email", "khong@example.com", extension="130")
        no_mail.work_email = "khong@example.com"
        no_mail.with_user(self.manager).action_vpbx_invite()
        self.assertProvisioned(no_mail, "130")

    def test_bulk_pbx_down(self):
        self.sim.inject_fault("agent_invite", "http_500", count=5)
        employees = (self.an | self.binh).with_user(self.manager)
        result = self.env["vpbx.provision.result"].browse(
            employees.action_vpbx_invite_bulk()["res_id"]
        )
        self.assertEqual(result.line_ids.mapped("status"), ["failed", "failed"])
        self.assertEqual(set(employees.sudo().mapped("vpbx_state")), {"error"})

    # ------------------------------------------------------------------ manual entry, uniqueness
    def test_manual_entry(self):
        employee = self.an.with_user(self.manager)
        employee.write(
            {"vpbx_extension": " 201 ", "vpbx_domain": "pbx.example.vn", "vpbx_password": "Man!1al"}
        )
        employee = employee.sudo()
        self.assertEqual(employee.vpbx_extension, "201")
        self.assertEqual(employee.vpbx_password, "Man!1al")
        self.assertEqual(employee.vpbx_state, "provisioned")
        self.assertFalse(self.sim.requests_log, "manual entry never calls the PBX")
        self.assertNoPasswordInChatter(employee, "Man!1al")
        employee.with_user(self.manager).vpbx_extension = ""
        self.assertFalse(employee.vpbx_extension)
        self.assertEqual(employee.vpbx_state, "none")

    def test_manual_entry_clears_error(self):
        self.an.write({"vpbx_state": "error", "vpbx_last_error": "boom"})
        self.an.with_user(self.manager).write({"vpbx_extension": "202", "vpbx_password": "x"})
        self.assertEqual(self.an.vpbx_state, "provisioned")
        self.assertFalse(self.an.vpbx_last_error)

    def test_extension_unique_per_company(self):
        self.an.vpbx_extension = "301"
        with self.assertRaises(ValidationError) as cm:
            self.binh.with_user(self.manager).vpbx_extension = "301"
        self.assertIn("Nguyễn Văn An", cm.exception.args[0])
        self.assertIn("301", cm.exception.args[0])
        with self.assertRaises(ValidationError):
            self.env["hr.employee"].create({"name": "Dup", "vpbx_extension": "301"})
        # archived employees still hold their extension
        self.an.active = False
        with self.assertRaises(ValidationError):
            self.binh.vpbx_extension = "301"
        # another company may use the same number
        other = self.env["res.company"].create({"name": "Other VPBX Co"})
        dup = self.env["hr.employee"].create(
            {"name": "Other Co", "company_id": other.id, "vpbx_extension": "301"}
        )
        self.assertEqual(dup.vpbx_extension, "301")
        # empty extensions never clash
        self.binh.vpbx_extension = False
        self.chau.vpbx_extension = ""
        self.assertFalse(self.chau.vpbx_extension)

    def test_extension_unique_per_account(self):
        """Extension 301 on two accounts of one company is two people; on one account, one."""
        other = self.env["vpbx.pbx"].create(
            {"name": "Second PBX", "company_id": self.company.id, "sequence": 50}
        )
        self.an.vpbx_extension = "301"
        self.assertEqual(self.an.vpbx_pbx_id, self.pbx)
        twin = self.env["hr.employee"].create(
            {"name": "Twin on Second", "vpbx_pbx_id": other.id, "vpbx_extension": "301"}
        )
        self.assertEqual((twin.vpbx_pbx_id, twin.vpbx_extension), (other, "301"))
        self.binh.with_user(self.manager).write({"vpbx_pbx_id": other.id})
        with self.assertRaises(ValidationError) as cm:
            self.binh.with_user(self.manager).vpbx_extension = "301"
        self.assertIn("Twin on Second", cm.exception.args[0])
        self.assertIn("Second PBX", cm.exception.args[0])
        with self.assertRaises(ValidationError) as cm:
            self.env["hr.employee"].create(
                {"name": "Dup on First", "vpbx_pbx_id": self.pbx.id, "vpbx_extension": "301"}
            )
        self.assertIn("Nguyễn Văn An", cm.exception.args[0])
        # moving an extension to the account where it is taken is refused too
        with self.assertRaises(ValidationError):
            twin.vpbx_pbx_id = self.pbx
        # and an account of another company is refused
        company = self.env["res.company"].create({"name": "Elsewhere Co"})
        elsewhere = make_pbx(self.env, company=company)
        with self.assertRaises(ValidationError):
            self.chau.write({"vpbx_pbx_id": elsewhere.id, "vpbx_extension": "302"})

    def test_settings_fields(self):
        """The provisioning settings are the account's: their defaults, and an invite uses
        them."""
        pbx = self.env["vpbx.pbx"].create({"name": "Fresh PBX", "company_id": self.company.id})
        self.assertEqual(pbx.invite_field_email, "identify_info")
        self.assertEqual(pbx.invite_role, "agent")
        self.assertIn("payload.pbx_account.sip_user", pbx.invite_path_extension)
        self.pbx.invite_role = "member"
        self.an.with_user(self.manager).action_vpbx_invite()
        (body,) = self.invite_bodies()
        self.assertEqual(body["role"], "member")
