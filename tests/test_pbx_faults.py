"""Every PBX operation x every PBX fault: a clear translated error and no partial state.

A table-driven matrix over the six operations that talk to the PBX (test connection, invite,
fetch, click-to-call, history sync, register webhook) and the faults of the simulator (HTTP 500,
an HTML 502 page, malformed JSON, a dropped connection, connection refused, a time-out, a token
refused twice, a token refused once). Each combination is its own test method (its own
transaction), built from the two tables at the end of this file.

Time-outs are real: like test_hr_employee_provisioning, the class uses the unpatched
``requests`` send, so that a 0.5 s time-out is not raised to Odoo's 10 s test minimum, and the
simulator answers 1 s late (``slow`` fault). The dropped connection (``close``) is its own
column.

Every failure is asserted in Vietnamese (i18n/vi.po) against the exact expected text, then the
records the operation could touch are compared before and after: nothing written, no call, no
event, no moved sync cursor. For the writes that the PBX must not receive twice (invite,
click-to-call, webhook registration), the number of requests is checked too.
"""

import time
from datetime import timedelta

import requests

from odoo import fields
from odoo.addons.sentech_vpbx.services.errors import ERROR_MESSAGES
from odoo.addons.sentech_vpbx.services.phone import format_display
from odoo.addons.sentech_vpbx.tools.vpbx_simulator import HOTLINES, VpbxSimulator
from odoo.exceptions import UserError
from odoo.tests import HttpCase, common, new_test_user, tagged
from odoo.tools.translate import code_translations

from .common import make_pbx

KEY = "sim-key-faults-5c1e"
# Odoo's harness raises every time-out below 10 s to 10 s; the time-out column needs the real one.
_REAL_SEND = getattr(common, "_super_send", requests.Session.send)
LANG = "vi_VN"
EXT = "7201"
MOBILE = "0903 222 333"
TIMEOUT = 0.5
SLOW = 1.0
SYNC_LOGGER = "odoo.addons.sentech_vpbx.models.vpbx_sync_state"
EMPLOYEE_FIELDS = (
    "vpbx_domain",
    "vpbx_extension",
    "vpbx_password",
    "vpbx_state",
    "vpbx_last_error",
    "vpbx_agent_id",
)
PBX_FIELDS = (
    "api_key",
    "webhook_token",
    "sync_cursor",
    "sync_last_run",
    "sync_last_count",
    "sync_last_new",
    "hotline",
)
#: progress of the window being synced (vpbx.sync.state)
SYNC_STATE_FIELDS = ("window_count", "window_new")


@tagged("post_install", "-at_install")
class TestPbxFaults(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.classPatch(requests.sessions.Session, "send", _REAL_SEND)
        cls.sim = VpbxSimulator(api_key=KEY, seed=19).start()
        cls.addClassCleanup(cls.sim.stop)
        cls.env["res.lang"]._activate_lang(LANG)
        cls.vi = code_translations.get_python_translations("sentech_vpbx", LANG)
        cls.company = cls.env.company
        cls.company.country_id = cls.env.ref("base.vn")
        # the first account of the company: the employees below get it by default
        cls.pbx = make_pbx(
            cls.env,
            api_url=cls.sim.url,
            api_key=KEY,
            auth_mode="bearer",
            timeout=5,
            hotline=HOTLINES[0],
            history_version="v2",
            history_time_unit="ms",
            sync_overlap=30,
            missed_call_user_id=False,
            post_call_note=False,
            webhook_register_wrapped=True,
            webhook_register_type="call",
            webhook_register_events=False,
        )
        cls.manager = new_test_user(
            cls.env,
            login="vpbx_faults_manager",
            groups="base.group_user,hr.group_hr_user,sentech_vpbx.group_vpbx_manager",
        )
        cls.sales = new_test_user(
            cls.env,
            login="vpbx_faults_sales",
            groups="base.group_user,sentech_vpbx.group_vpbx_user",
        )
        Employee = cls.env["hr.employee"]
        cls.caller = Employee.create(
            {"name": "Phạm Sales", "user_id": cls.sales.id, "vpbx_extension": EXT}
        )
        cls.an = Employee.create({"name": "Nguyễn Văn An", "work_email": "an.f@example.com"})
        cls.binh = Employee.create({"name": "Trần Thị Bình", "work_email": "binh.f@example.com"})
        cls.partner = cls.env["res.partner"].create({"name": "Lê Thị Lan", "mobile": MOBILE})

    def setUp(self):
        super().setUp()
        self.sim.reset()
        self.sim.add_agent("Phạm Sales", "sales.f@example.com", extension=EXT)
        self.sim.add_agent("Trần Thị Bình", "binh.f@example.com", extension="7250")
        now = int(time.time())
        self.history = self.sim.generate_calls(7, now - 3 * 3600, now - 120, seed=3)
        self.env["vpbx.sync.state"]._vpbx_state_of(self.pbx).write(
            {
                "cursor": fields.Datetime.now() - timedelta(hours=4),
                "next_page": 0,
                "last_error": False,
            }
        )

    # ------------------------------------------------------------------ operations
    # each: (endpoint the fault is put on, idempotent (retried by the client), run, check)

    def op_test_connection(self):
        def run():
            return self.pbx.with_user(self.manager).with_context(lang=LANG).action_test_connection()

        def succeeded(action):
            self.assertEqual(action["params"]["type"], "success")

        return "agent_list", True, run, succeeded, lambda reason: reason

    def op_invite(self):
        def run():
            return self.an.with_user(self.manager).with_context(lang=LANG).action_vpbx_invite()

        def succeeded(_action):
            self.assertTrue(self.an.vpbx_extension)
            self.assertEqual(self.an.vpbx_state, "provisioned")
            mine = [a for a in self.sim.agents if a["email"] == "an.f@example.com"]
            self.assertEqual(len(mine), 1, "one agent created on the PBX")

        def message(reason):
            return self.vi["Could not create %(employee)s on VPBX: %(reason)s"] % {
                "employee": self.an.name,
                "reason": reason,
            }

        return "agent_invite", False, run, succeeded, message

    def op_fetch(self):
        def run():
            return self.binh.with_user(self.manager).with_context(lang=LANG).action_vpbx_fetch()

        def succeeded(_action):
            self.assertEqual(self.binh.vpbx_extension, "7250")
            self.assertEqual(self.binh.sudo().vpbx_password, self.sim.phones["7250"]["password"])

        def message(reason):
            return self.vi["Could not read the extensions of VPBX for %(employee)s: %(reason)s"] % {
                "employee": self.binh.name,
                "reason": reason,
            }

        return "internal_phone_list", True, run, succeeded, message

    def op_click2call(self):
        def run():
            return (
                self.partner.with_user(self.sales).with_context(lang=LANG).action_vpbx_call_mobile()
            )

        def succeeded(_action):
            calls = self.env["vpbx.call"].search([("vpbx_click2call", "=", True)])
            self.assertEqual(len(calls), 1)
            self.assertEqual(calls.partner_id, self.partner)

        def message(reason):
            return self.vi["Cannot call %(number)s: %(reason)s"] % {
                "number": format_display(MOBILE, "VN"),
                "reason": reason,
            }

        return "click2call", False, run, succeeded, message

    def op_sync(self):
        def run():
            return self.pbx.with_user(self.manager).with_context(lang=LANG).action_sync_now()

        def succeeded(action):
            self.assertEqual(action["params"]["type"], "success")
            self.assertEqual(set(self.call_ids()), {r["transaction_id"] for r in self.history})
            self.assertGreater(self.pbx.sync_cursor, self.before["sync_cursor"])

        def message(reason):
            return self.vi["The history sync failed: %(error)s"] % {"error": reason}

        return "history_v2", True, run, succeeded, message

    def op_register_webhook(self):
        def run():
            return (
                self.pbx.with_user(self.manager).with_context(lang=LANG).action_register_webhook()
            )

        def succeeded(_action):
            self.assertEqual(self.sim.webhooks["call"]["url"], self.pbx._vpbx_webhook_url())

        return "webhook_register", False, run, succeeded, lambda reason: reason

    # ------------------------------------------------------------------ helpers

    def call_ids(self):
        return self.env["vpbx.call"].sudo().search([]).mapped("vpbx_call_id")

    def state(self):
        """What an operation may write in Odoo: employees, account, sync state, calls, events."""
        self.env.invalidate_all()
        snapshot = {}
        for employee in (self.an | self.binh | self.caller).sudo():
            snapshot[employee.id] = {f: employee[f] for f in EMPLOYEE_FIELDS}
            snapshot[employee.id]["messages"] = employee.message_ids.ids
        pbx = self.pbx.sudo()
        snapshot.update({f: pbx[f] for f in PBX_FIELDS})
        state = self.env["vpbx.sync.state"]._vpbx_state_of(pbx)
        snapshot.update({f"state.{f}": state[f] for f in SYNC_STATE_FIELDS})
        snapshot["calls"] = self.env["vpbx.call"].sudo().search([]).ids
        snapshot["events"] = self.env["vpbx.webhook.event"].sudo().search([]).ids
        snapshot["messages"] = self.env["mail.message"].sudo().search_count([])
        return snapshot

    def reason(self, template_key, code=None, **params):
        """The expected Vietnamese text of an error (and its PBX code)."""
        english = ERROR_MESSAGES[template_key]
        self.assertIn(english, self.vi, "the error is translated in vi.po")
        self.assertNotEqual(self.vi[english], english)
        text = self.vi[english] % params
        return f"{text} ({code})" if code else text

    def run_case(self, op_name, fault):
        endpoint, idempotent, run, succeeded, message = getattr(self, f"op_{op_name}")()
        url = self.sim.url
        expected, attempts = FAULTS[fault](self, endpoint, idempotent)
        if fault == "refused":
            url = self.pbx.api_url
        self.env.flush_all()
        self.before = self.state()
        self.sim.requests_log.clear()
        logs = self.assertLogs(SYNC_LOGGER, "WARNING") if op_name == "sync" and expected else None
        if expected is None:  # the fault is absorbed: the operation succeeds, once
            action = run()
            self.env.invalidate_all()
            succeeded(action)
            self.assertEqual(len(self.sim.calls_for(endpoint)), attempts)
            return
        if op_name == "sync":
            # the sync never raises: the error is the notification and the account's last error
            with logs:
                action = run()
            text = action["params"]["message"]
            self.assertEqual(action["params"]["type"], "danger")
        else:
            with self.assertRaises(UserError) as caught:
                run()
            text = caught.exception.args[0]
        self.assertEqual(text, message(expected.replace("{url}", url)))
        after = self.state()
        self.assertEqual(after, self.before, "no partial state")
        if op_name == "sync":
            pbx = self.pbx
            self.assertEqual(pbx.sync_last_error, expected.replace("{url}", url))
            self.assertIn(pbx.sync_next_page, (0, 1), "no page stored")
        if attempts is not None:
            self.assertEqual(
                len(self.sim.calls_for(endpoint)), attempts, "requests that reached the PBX"
            )
        if fault == "timeout":
            time.sleep(SLOW)  # let the simulator finish the late request before the next test
        if op_name != "sync":
            # the same operation succeeds once the PBX is back
            self.sim.clear_faults()
            self.pbx.write({"api_url": self.sim.url, "timeout": 5})
            self.sim.requests_log.clear()
            succeeded(run())


# ---------------------------------------------------------------------- faults
# each: f(case, endpoint, idempotent) -> (expected reason with "{url}" or None if absorbed,
# requests expected at the endpoint or None when not checked)


def _http_500(case, endpoint, idempotent):
    case.sim.inject_fault(endpoint, "http_500", count=10)
    return case.reason("http_error", status=500), 3 if idempotent else 1


def _http_502_html(case, endpoint, idempotent):
    case.sim.inject_fault(endpoint, "http_502_html", count=10)
    return case.reason("invalid_json", status=502), 3 if idempotent else 1


def _malformed_json(case, endpoint, idempotent):
    case.sim.inject_fault(endpoint, "malformed_json", count=10)
    return case.reason("invalid_json", status=200), 1


def _close(case, endpoint, idempotent):
    case.sim.inject_fault(endpoint, "close", count=10)
    expected = case.reason(
        "unreachable", url="{url}", reason="the connection was closed without an answer"
    )
    return expected, 3 if idempotent else 1


def _refused(case, endpoint, idempotent):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    case.pbx.api_url = f"http://127.0.0.1:{port}"
    return case.reason("connection_refused", url="{url}"), 0


def _timeout(case, endpoint, idempotent):
    case.pbx.timeout = TIMEOUT
    case.sim.inject_fault(endpoint, "slow", delay=SLOW)
    return case.reason("timeout", url="{url}", seconds=f"{TIMEOUT:g}"), 1


def _token_refused_twice(case, endpoint, idempotent):
    case.sim.inject_fault(endpoint, "token_expired", count=2)
    return case.reason("token_expired", code="token_expired"), 2


def _token_expires_mid_operation(case, endpoint, idempotent):
    # the token the operation started with is refused once: one refresh, one more attempt
    case.sim.inject_fault(endpoint, "token_expired", count=1)
    return None, 2


FAULTS = {
    "http_500": _http_500,
    "http_502_html": _http_502_html,
    "malformed_json": _malformed_json,
    "close": _close,
    "refused": _refused,
    "timeout": _timeout,
    "token_refused_twice": _token_refused_twice,
    "token_expires_mid_operation": _token_expires_mid_operation,
}
OPERATIONS = ("test_connection", "invite", "fetch", "click2call", "sync", "register_webhook")


def _case(op_name, fault):
    def test(self):
        self.run_case(op_name, fault)

    test.__doc__ = f"{op_name} x {fault}"
    return test


for _op in OPERATIONS:
    for _fault in FAULTS:
        setattr(TestPbxFaults, f"test_{_op}__{_fault}", _case(_op, _fault))
