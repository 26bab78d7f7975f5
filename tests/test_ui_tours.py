"""The addon's screens in a real browser (Odoo tours in headless Chromium), in English and
Vietnamese: an administrator connects the PBX, an HR manager provisions an employee, a
salesperson finds a contact's calls and the missed call to return.

The same run saves screenshots when ``ODOO_VPBX_SCREENSHOTS`` names a folder (``./dev test``
sets it to the git-ignored ``.dev/screenshots``, ``./dev screenshots`` to the README's
``docs/screenshots``): a tour step logs ``sentech_vpbx:screenshot <name>``, the test captures the
page through the browser's DevTools connection, then marks the page so that the tour goes on.
"""

import base64
import json
import logging
import os
import re
import time
from pathlib import Path
from unittest.mock import patch
from urllib.parse import quote

from websocket import WebSocketConnectionClosedException

from odoo.addons.bus.websocket import WebsocketConnectionHandler
from odoo.addons.sentech_vpbx.tools.vpbx_simulator import VpbxSimulator
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tests.common import ChromeBrowser

from .common import call_payload

KEY = "tour-api-key"
#: the PBX account the tours use, wired to the simulator (the demo one, if any, is left alone)
PBX_NAME = "Tổng đài Minh Phát"
#: the contact's number as the PBX sends it, and the salesperson's extension
NUMBER = "0938246810"
EXTENSION = "9301"
LANGS = {"en_US": "en", "vi_VN": "vi"}
SCREENSHOT_SIGNAL = "sentech_vpbx:screenshot "
SCREENSHOT_NAME = re.compile(r"^[a-z_]+$")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TOUR_TIMEOUT = 180
_ORIGINAL_HANDLE_CONSOLE = ChromeBrowser._handle_console
#: how Chrome going away shows: the DevTools socket closes, or a command is never answered
BROWSER_LOST = (WebSocketConnectionClosedException, TimeoutError)
_logger = logging.getLogger(__name__)


def _handle_console(browser, type, args=None, **kw):  # pylint: disable=redefined-builtin
    """Browser console messages; the screenshot requests of our tours go to the test."""
    first = args[0].get("value") if args else None
    hook = getattr(browser.test_case, "_vpbx_screenshot", None)
    if type == "log" and hook and isinstance(first, str) and first.startswith(SCREENSHOT_SIGNAL):
        hook(browser, first[len(SCREENSHOT_SIGNAL) :].strip())
        return None
    return _ORIGINAL_HANDLE_CONSOLE(browser, type, args=args, **kw)


@tagged("post_install", "-at_install")
class TestUiTours(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.classPatch(ChromeBrowser, "_handle_console", _handle_console)
        folder = os.environ.get("ODOO_VPBX_SCREENSHOTS")
        cls.screenshot_dir = Path(folder) if folder else None
        cls.sim = VpbxSimulator(api_key=KEY, seed=7).start()
        cls.addClassCleanup(cls.sim.stop)
        cls.sim.add_agent("Nguyễn Minh Tuấn", "tuan@example.com", extension=EXTENSION)
        cls.sim.add_agent("Trần Thu Hà", "ha@example.com", extension="9302")
        vietnam = cls.env.ref("base.vn")
        cls.company = cls.env.company
        cls.company.country_id = vietnam
        cls.pbx = cls.env["vpbx.pbx"].create(
            {
                "name": PBX_NAME,
                "company_id": cls.company.id,
                "api_url": cls.sim.url,
                "api_key": KEY,
                "timeout": 5,
                "missed_call_user_id": False,
                # the tours show calls posted a moment before: processed before the answer
                "webhook_queued": False,
            }
        )
        # the whole interface in Vietnamese, not only this addon
        cls.env["res.lang"]._activate_lang("vi_VN")
        installed = cls.env["ir.module.module"].search([("state", "=", "installed")])
        cls.env["ir.module.module"]._load_module_terms(installed.mapped("name"), ["vi_VN"])

        def user(login, name, groups):
            return new_test_user(
                cls.env, login=login, name=name, groups=groups, tz="Asia/Ho_Chi_Minh"
            )

        cls.admin = user(
            "vpbx_tour_admin",
            "Lê Văn Quản",
            "base.group_user,base.group_system,sentech_vpbx.group_vpbx_manager",
        )
        cls.hr_manager = user("vpbx_tour_hr", "Phạm Thị Lan", "base.group_user,hr.group_hr_manager")
        cls.salesperson = user(
            "vpbx_tour_sales", "Nguyễn Minh Tuấn", "base.group_user,sentech_vpbx.group_vpbx_user"
        )
        Employee = cls.env["hr.employee"]
        Employee.create(
            {
                "name": "Nguyễn Minh Tuấn",
                "user_id": cls.salesperson.id,
                "work_email": "tuan@example.com",
                "vpbx_pbx_id": cls.pbx.id,
                "vpbx_extension": EXTENSION,
                "vpbx_domain": cls.sim.domain,
            }
        )
        # one employee without extension per language, to be created on the tours' PBX
        cls.new_employees = {
            lang: Employee.create({"name": name, "work_email": email, "vpbx_pbx_id": cls.pbx.id})
            for lang, name, email in [
                ("en_US", "Võ Thị Mai", "mai@example.com"),
                ("vi_VN", "Đặng Văn Khoa", "khoa@example.com"),
            ]
        }
        cls.partner = cls.env["res.partner"].create(
            {
                "name": "Công ty TNHH Minh Phát",
                "is_company": True,
                "mobile": "0938 246 810",
                "street": "12 Nguyễn Huệ",
                "city": "TP. Hồ Chí Minh",
                "country_id": vietnam.id,
            }
        )

    def setUp(self):
        super().setUp()
        self.screenshots = []
        self.screenshot_errors = []
        self.lang = "en_US"

    def start_tour(self, url_path, tour_name, step_delay=None, **kwargs):
        """Run the tour; once more in a new Chrome when the browser itself went away.

        Seen once in CI: the DevTools socket closed while the first page loaded, before the tour
        had started. A tour that fails at a step reports through the test, and is not retried.
        """
        try:
            return super().start_tour(url_path, tour_name, step_delay, **kwargs)
        except BROWSER_LOST as error:
            _logger.info("Chrome went away (%r); tour %s started again", error, tour_name)
            self.screenshots = []
            return super().start_tour(url_path, tour_name, step_delay, **kwargs)

    # ------------------------------------------------------------------ screenshots

    def _vpbx_screenshot(self, browser, name):
        """Called in the browser's event thread: capture (if wanted), then mark the page."""

        def mark(future=None):
            try:
                if future is not None:
                    data = base64.b64decode(future.result(timeout=0)["data"], validate=True)
                    path = self.screenshot_dir / f"{name}_{LANGS[self.lang]}.png"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(data)
                    self.screenshots.append(path)
            except Exception as error:  # pylint: disable=broad-except
                # reported by the test in the main thread (see assertScreenshots)
                self.screenshot_errors.append(f"{name}: {error!r}")
            finally:
                browser._websocket_send(
                    "Runtime.evaluate",
                    params={
                        "expression": "document.body.dataset.sentechVpbxScreenshot = "
                        + json.dumps(name)
                    },
                )

        if not SCREENSHOT_NAME.match(name):
            self.screenshot_errors.append(f"bad screenshot name {name!r}")
            mark()
        elif self.screenshot_dir is None:
            mark()
        else:
            future = browser._websocket_send(
                "Page.captureScreenshot", params={"format": "png"}, with_future=True
            )
            future.add_done_callback(mark)

    def assertScreenshots(self, names):
        self.assertFalse(self.screenshot_errors)
        if self.screenshot_dir is None:
            return
        expected = [self.screenshot_dir / f"{name}_{LANGS[self.lang]}.png" for name in names]
        self.assertEqual(self.screenshots, expected)
        for path in expected:
            self.assertEqual(path.read_bytes()[:8], PNG_MAGIC)

    def tour_options(self, user, lang, **cookies):
        """Options of start_tour: run as `user` in `lang`, `cookies` handed to the tour."""
        self.lang = lang
        self.screenshots = []
        user.lang = lang
        return {
            "login": user.login,
            "timeout": TOUR_TIMEOUT,
            "cookies": {f"sentech_vpbx_tour_{k}": quote(v, safe="") for k, v in cookies.items()},
        }

    # ------------------------------------------------------------------ helpers

    def post_call(self, call_id, start, missed=False, direction="inbound", number=NUMBER):
        data = call_payload(
            call_id,
            number,
            start=start,
            missed=missed,
            direction=direction,
            sip_user=EXTENSION,
            time_end_call=start + 95,
            duration=95,
            bill_sec=0 if missed else 80,
        )
        response = self.url_open(
            f"/vpbx/webhook/{self.pbx.sudo().webhook_token}",
            data=json.dumps(data),
            headers={"Content-Type": "application/json"},
        )
        self.assertEqual(response.status_code, 200)

    # ------------------------------------------------------------------ tours

    def test_01_admin_configures_and_tests_connection(self):
        for lang in LANGS:
            with self.subTest(lang=lang):
                self.pbx.write({"api_url": False, "api_key": False})
                auth_before = self.sim.auth_count
                self.start_tour(
                    "/odoo/action-sentech_vpbx.action_vpbx_pbx",
                    "sentech_vpbx_admin_settings",
                    **self.tour_options(
                        self.admin, lang, api_url=self.sim.url, api_key=KEY, pbx=PBX_NAME
                    ),
                )
                self.pbx.invalidate_recordset()
                self.assertEqual(self.pbx.api_url, self.sim.url)
                self.assertEqual(self.pbx.sudo().api_key, KEY)
                self.assertGreater(self.sim.auth_count, auth_before, "the test reached the PBX")
                self.assertScreenshots(["settings"])

    def test_02_hr_manager_provisions_employee(self):
        for lang, employee in self.new_employees.items():
            with self.subTest(lang=lang):
                self.start_tour(
                    f"/odoo/employees/{employee.id}",
                    "sentech_vpbx_hr_provision",
                    **self.tour_options(self.hr_manager, lang),
                )
                employee.invalidate_recordset()
                self.assertEqual(employee.vpbx_state, "provisioned")
                self.assertEqual(employee.vpbx_pbx_id, self.pbx)
                self.assertIn(employee.vpbx_extension, self.sim.phones)
                self.assertScreenshots(["employee"])

    def test_03_salesperson_finds_calls_and_missed_call(self):
        now = int(time.time())
        self.post_call("TOUR-1", now - 3 * 3600)
        self.post_call("TOUR-2", now - 2 * 3600, direction="outbound")
        self.post_call("TOUR-3", now - 1800, missed=True)
        self.env.invalidate_all()
        calls = self.env["vpbx.call"].search([("vpbx_call_id", "like", "TOUR-")])
        self.assertEqual(calls.pbx_id, self.pbx)
        self.assertEqual(calls.partner_id, self.partner)
        self.assertEqual(calls.user_id, self.salesperson)
        missed = calls.filtered(lambda c: c.status == "missed")
        self.assertEqual(missed.callback_activity_id.user_id, self.salesperson)
        self.assertEqual(missed.callback_activity_id.res_id, self.partner.id)
        for lang in LANGS:
            with self.subTest(lang=lang):
                self.start_tour(
                    f"/odoo/contacts/{self.partner.id}",
                    "sentech_vpbx_sales_calls",
                    **self.tour_options(self.salesperson, lang, number=NUMBER),
                )
                self.assertScreenshots(["contact", "calls", "call_form"])

    def test_05_after_the_call(self):
        """The salesperson records an outcome on the call form; the manager's Call center shows
        the answer rate and the missed call nobody called back."""
        now = int(time.time())
        self.post_call("TOUR-AFTER-1", now - 3 * 3600)
        self.post_call("TOUR-AFTER-2", now - 3600, missed=True)
        self.env.invalidate_all()
        answered = self.env["vpbx.call"].search([("vpbx_call_id", "=", "TOUR-AFTER-1")])
        outcome = self.env.ref("sentech_vpbx.outcome_interested")
        notes = {"en_US": "Wants a quote for 20 phones", "vi_VN": "Khách cần báo giá 20 máy"}
        for lang in LANGS:
            with self.subTest(lang=lang, screen="outcome"):
                # no outcome yet: the tour's last step waits for the one it saves
                answered.write({"outcome_id": False, "outcome_note": False})
                self.start_tour(
                    f"/odoo/vpbx.call/{answered.id}",
                    "sentech_vpbx_outcome_screens",
                    **self.tour_options(
                        self.salesperson,
                        lang,
                        outcome=outcome.with_context(lang=lang).name,
                        note=notes[lang],
                    ),
                )
                self.assertScreenshots(["outcome"])
                answered.invalidate_recordset()
                self.assertEqual(answered.outcome_id, outcome)
                self.assertEqual(answered.outcome_note, notes[lang])
            with self.subTest(lang=lang, screen="call_center"):
                self.start_tour(
                    "/odoo/action-sentech_vpbx.action_vpbx_call_center",
                    "sentech_vpbx_call_center_screens",
                    **self.tour_options(self.admin, lang),
                )
                self.assertScreenshots(["call_center"])

    def test_04_live_call_pops_up(self):
        """A ringing event POSTed during the tour pops the caller's card up on the salesperson's
        screen; Open contact opens it. An unknown number offers Create contact, prefilled, and
        the contact saved from it takes the ringing call."""
        # Odoo serves no websocket to tests unless told to (as its own bus tests do)
        websocket = patch.object(WebsocketConnectionHandler, "websocket_allowed", return_value=True)
        self.startPatcher(websocket)
        # a salesperson creates contacts (Sales / User has Contact Creation)
        self.salesperson.groups_id += self.env.ref("base.group_partner_manager")
        token = self.pbx.sudo().webhook_token
        unknown = "0977111222"
        for lang, short in LANGS.items():
            with self.subTest(lang=lang, number="known"):
                call_id = f"TOUR-LIVE-{short}"
                self.start_tour(
                    "/odoo",
                    "sentech_vpbx_live_call_known",
                    **self.tour_options(
                        self.salesperson,
                        lang,
                        token=token,
                        call_id=call_id,
                        number=NUMBER,
                        extension=EXTENSION,
                        partner=self.partner.name,
                    ),
                )
                self.assertScreenshots(["live_call"])
                call = self.env["vpbx.call"].search([("vpbx_call_id", "=", call_id)])
                self.assertEqual(call.partner_id, self.partner)
                self.assertEqual(call.vpbx_live_stage, "ringing")
            with self.subTest(lang=lang, number="unknown"):
                call_id = f"TOUR-LIVE-NEW-{short}"
                # a previous run's contact would make the number known
                self.env["res.partner"].search([("name", "=", "Khách mới")]).write({"phone": False})
                self.start_tour(
                    "/odoo",
                    "sentech_vpbx_live_call_unknown",
                    **self.tour_options(
                        self.salesperson,
                        lang,
                        token=token,
                        call_id=call_id,
                        number=unknown,
                        extension=EXTENSION,
                    ),
                )
                self.assertScreenshots(["live_call_unknown"])
                self.env.invalidate_all()
                call = self.env["vpbx.call"].search([("vpbx_call_id", "=", call_id)])
                self.assertEqual(call.partner_id.name, "Khách mới", "linked by the matching")
                # the next language's tour starts from an unknown number again
                call.partner_id.write({"phone": False})

    def test_05_salesperson_sees_calls_on_opportunity(self):
        """Calls of a number that only an opportunity carries: on the opportunity's form (smart
        button, Call button, the missed call's activity) and in its call list."""
        number = "0977246810"
        self.salesperson.groups_id += self.env.ref("sales_team.group_sale_salesman")
        keys = self.env["vpbx.lead.phone"].search([("key", "=", "+84977246810")])
        keys.lead_id.write({"phone": False, "mobile": False})
        lead = self.env["crm.lead"].create(
            {
                "name": "Máy lọc nước cho văn phòng",
                "type": "opportunity",
                "phone": "0977 246 810",
                "user_id": self.salesperson.id,
                "expected_revenue": 15000000,
            }
        )
        now = int(time.time())
        self.post_call("TOUR-LEAD-1", now - 3600, number=number)
        self.post_call("TOUR-LEAD-2", now - 600, missed=True, number=number)
        self.env.invalidate_all()
        calls = self.env["vpbx.call"].search([("vpbx_call_id", "like", "TOUR-LEAD-")])
        self.assertEqual(len(calls), 2)
        self.assertEqual(calls.lead_id, lead)
        missed = calls.filtered(lambda c: c.status == "missed")
        self.assertEqual(
            (missed.callback_activity_id.res_model, missed.callback_activity_id.res_id),
            ("crm.lead", lead.id),
        )
        for lang in LANGS:
            with self.subTest(lang=lang):
                self.start_tour(
                    f"/odoo/crm/{lead.id}",
                    "sentech_vpbx_crm_lead_calls",
                    **self.tour_options(self.salesperson, lang),
                )
                self.assertScreenshots(["lead"])

    def test_06_live_call_shows_opportunities_and_creates_leads(self):
        """The pop-up lists the caller's open opportunity (Open opens it) and, for an unknown
        number, Create lead: the lead saved from it takes the ringing call."""
        websocket = patch.object(WebsocketConnectionHandler, "websocket_allowed", return_value=True)
        self.startPatcher(websocket)
        self.salesperson.groups_id += self.env.ref("sales_team.group_sale_salesman")
        token = self.pbx.sudo().webhook_token
        unknown = "0977555666"
        opportunity = self.env["crm.lead"].create(
            {
                "name": "Hợp đồng bảo trì",
                "type": "opportunity",
                "partner_id": self.partner.id,
                "user_id": self.salesperson.id,
                "expected_revenue": 8000000,
            }
        )
        for lang, short in LANGS.items():
            with self.subTest(lang=lang):
                # the previous language's lead (and any contact) would make the number known
                self.env["vpbx.lead.phone"].search([("key", "=", "+84977555666")]).lead_id.write(
                    {"phone": False, "mobile": False}
                )
                self.env["vpbx.partner.phone"].search(
                    [("key", "=", "+84977555666")]
                ).partner_id.write({"phone": False, "mobile": False})
                self.start_tour(
                    "/odoo",
                    "sentech_vpbx_live_call_opportunity",
                    **self.tour_options(
                        self.salesperson,
                        lang,
                        token=token,
                        call_id=f"TOUR-LIVE-OPP-{short}",
                        call_id_unknown=f"TOUR-LIVE-LEAD-{short}",
                        number=NUMBER,
                        unknown=unknown,
                        extension=EXTENSION,
                        lead=str(opportunity.id),
                    ),
                )
                self.env.invalidate_all()
                calls = self.env["vpbx.call"].search(
                    [("vpbx_call_id", "in", [f"TOUR-LIVE-OPP-{short}", f"TOUR-LIVE-LEAD-{short}"])],
                    order="id",
                )
                self.assertEqual(calls[0].lead_id, opportunity)
                created = calls[1].lead_id
                self.assertTrue(created, "the lead saved from the pop-up took the call")
                self.assertIn("0977 555 666", created.name)
                # CRM may rewrite the number (+84 977 555 666): the same key all the same
                keys = self.env["vpbx.lead.phone"].search([("key", "=", "+84977555666")])
                self.assertEqual(keys.lead_id, created)
