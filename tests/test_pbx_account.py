"""PBX account settings: URL validation, webhook token, test connection, shared token,
neutralize."""

import socket
from datetime import timedelta

from odoo import fields
from odoo.addons.sentech_vpbx.tools.vpbx_simulator import VpbxSimulator
from odoo.exceptions import UserError, ValidationError
from odoo.modules.neutralize import get_neutralization_queries
from odoo.tests import TransactionCase, tagged

from .common import make_pbx

KEY = "settings-key"


@tagged("post_install", "-at_install")
class TestPbxAccount(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sim = VpbxSimulator(api_key=KEY, port=0)
        cls.sim.start()
        cls.addClassCleanup(cls.sim.stop)
        cls.company = cls.env.company
        cls.pbx = make_pbx(cls.env, api_url=cls.sim.url, api_key=KEY, timeout=2.0)

    def setUp(self):
        super().setUp()
        self.sim.reset()

    def test_invalid_url_refused_on_save(self):
        for url in ("ftp://pbx.example.vn", "not a url", "http://", "javascript:alert(1)"):
            with self.subTest(url=url), self.assertRaises(ValidationError):
                self.pbx.write({"api_url": url})
                self.pbx.flush_recordset()

    def test_url_trailing_slash_stripped(self):
        self.pbx.api_url = self.sim.url + "/ "
        self.assertEqual(self.pbx.api_url, self.sim.url)
        other = make_pbx(self.env, name="Slash PBX", api_url=self.sim.url + "/")
        self.assertEqual(other.api_url, self.sim.url, "on create too")

    def test_webhook_token_created_on_first_need(self):
        # every account gets its token when it is created...
        pbx = make_pbx(self.env, name="Token PBX")
        token = pbx.sudo().webhook_token
        self.assertGreaterEqual(len(token), 43, "32 random bytes, URL-safe base64")
        self.assertRegex(token, r"^[A-Za-z0-9_-]+$")
        self.assertNotEqual(token, self.pbx.sudo().webhook_token, "one token per account")
        url = pbx._vpbx_webhook_url()
        base = self.env["ir.config_parameter"].get_param("web.base.url")
        self.assertEqual(url, f"{base}/vpbx/webhook/{token}")
        # asking again gives the same token; regenerating gives another one
        self.assertEqual(pbx._vpbx_webhook_url(), url)
        pbx.action_regenerate_webhook_token()
        self.assertNotEqual(pbx.sudo().webhook_token, token)
        Pbx = self.env["vpbx.pbx"]
        self.assertEqual(Pbx._vpbx_from_webhook_token(pbx.sudo().webhook_token), pbx)
        self.assertFalse(Pbx._vpbx_from_webhook_token(token))
        self.assertFalse(Pbx._vpbx_from_webhook_token(""))
        # ...and one without (a neutralized copy) gets one on first need
        pbx.sudo().webhook_token = False
        self.assertFalse(pbx.webhook_url, "no URL is shown without a token")
        url = pbx._vpbx_webhook_url()
        self.assertTrue(pbx.sudo().webhook_token)
        self.assertEqual(url, f"{base}/vpbx/webhook/{pbx.sudo().webhook_token}")
        self.assertEqual(Pbx._vpbx_from_webhook_token(pbx.sudo().webhook_token), pbx)

    def test_settings_show_webhook_url(self):
        self.assertIn("/vpbx/webhook/", self.pbx.webhook_url)
        self.assertTrue(self.pbx.webhook_url.endswith(self.pbx.sudo().webhook_token))
        # the Settings page links to the company's accounts
        settings = self.env["res.config.settings"].create({})
        count = settings.vpbx_pbx_count
        self.assertEqual(
            count, self.env["vpbx.pbx"].search_count([("company_id", "=", self.company.id)])
        )
        make_pbx(self.env, name="Second PBX")
        self.assertEqual(self.env["res.config.settings"].create({}).vpbx_pbx_count, count + 1)
        self.assertEqual(settings.action_vpbx_open_pbx()["res_model"], "vpbx.pbx")

    def test_test_connection_success(self):
        self.sim.add_agent("Lan", "lan@example.com")
        self.sim.add_agent("Minh", "minh@example.com")
        action = self.pbx.action_test_connection()
        self.assertEqual(action["params"]["type"], "success")
        self.assertIn(self.sim.url, action["params"]["message"])
        self.assertIn("2 agents", action["params"]["message"], "the PBX's own count")
        self.assertEqual(self.sim.auth_count, 1)

    def test_test_connection_wrong_key(self):
        self.pbx.api_key = "wrong-key"
        with self.assertRaises(UserError) as caught:
            self.pbx.action_test_connection()
        self.assertEqual(str(caught.exception.args[0]), "API key invalid (api_key_invalid)")

    def test_wrong_key_message_in_vietnamese(self):
        self.env["res.lang"]._activate_lang("vi_VN")
        self.pbx.api_key = "wrong-key"
        with self.assertRaises(UserError) as caught:
            self.pbx.with_context(lang="vi_VN").action_test_connection()
        self.assertEqual(caught.exception.args[0], "API key không hợp lệ (api_key_invalid)")

    def test_test_connection_refused(self):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.pbx.api_url = f"http://127.0.0.1:{port}"
        with self.assertRaises(UserError) as caught:
            self.pbx.action_test_connection()
        self.assertEqual(
            caught.exception.args[0],
            f"Cannot reach VPBX at http://127.0.0.1:{port}: connection refused",
        )

    def test_test_connection_garbage_reply(self):
        # (time-outs are covered in test_vpbx_client: Odoo's test harness raises any
        # requests time-out below 10 s to 10 s for code that runs through the ORM layer)
        self.sim.inject_fault("*", "http_502_html", count=5)
        with self.assertRaises(UserError) as caught:
            self.pbx.action_test_connection()
        self.assertIn("502", caught.exception.args[0])

    def test_not_configured(self):
        pbx = make_pbx(self.env, name="Unconfigured PBX")
        with self.assertRaises(UserError):
            pbx.action_test_connection()
        pbx.api_url = self.sim.url
        with self.assertRaises(UserError, msg="a URL without a key is not configured either"):
            pbx.action_test_connection()

    def test_token_cached_on_company(self):
        """Two clients (two requests, two workers) share the token stored on the account."""
        self.pbx._vpbx_client().list_agents(size=1)
        self.assertTrue(self.pbx.sudo().access_token)
        self.assertTrue(self.pbx.sudo().token_expiry)
        self.pbx._vpbx_client().list_agents(size=1)
        self.assertEqual(self.sim.auth_count, 1)
        # a changed key must not reuse a token issued for the old one
        self.pbx.api_key = KEY
        self.assertFalse(self.pbx.sudo().access_token)
        self.assertFalse(self.pbx.sudo().token_expiry)

    def test_token_refreshed_once_after_expiry_on_pbx(self):
        client = self.pbx._vpbx_client()
        client.list_agents(size=1)
        self.sim.expire_tokens()
        self.pbx._vpbx_client().list_agents(size=1)
        self.assertEqual(self.sim.auth_count, 2)

    def test_neutralize_clears_secrets(self):
        self.pbx._vpbx_client().list_agents(size=1)
        self.pbx.sync_enabled = True
        employee = self.env["hr.employee"].create(
            {"name": "Neutralized Agent", "vpbx_extension": "7301", "vpbx_password": "Pw-7301!"}
        )
        self.assertEqual(employee.vpbx_pbx_id, self.pbx)
        task = self.env["vpbx.history.import"].create(
            {
                "pbx_id": self.pbx.id,
                "date_from": fields.Datetime.now() - timedelta(days=30),
                "date_to": fields.Datetime.now(),
            }
        )
        task.action_start()
        cron_ids = (
            self.env["ir.model.data"]
            .search([("module", "=", "sentech_vpbx"), ("model", "=", "ir.cron")])
            .mapped("res_id")
        )
        crons = self.env["ir.cron"].with_context(active_test=False).browse(cron_ids)
        self.assertIn(self.env.ref("sentech_vpbx.ir_cron_vpbx_history_sync"), crons)
        self.assertIn(self.env.ref("sentech_vpbx.ir_cron_vpbx_history_import"), crons)
        crons.active = True
        self.env.flush_all()
        cr = self.env.cr
        cr.execute(
            "SELECT api_key, access_token, token_expiry, webhook_token, sync_enabled"
            " FROM vpbx_pbx WHERE id = %s",
            [self.pbx.id],
        )
        self.assertTrue(all(cr.fetchone()), "every secret is set before")
        self.assertEqual(task.state, "running")

        queries = list(get_neutralization_queries(["sentech_vpbx"]))
        self.assertTrue(queries)
        for query in queries:
            cr.execute(query)
        self.env.invalidate_all()

        cr.execute(
            "SELECT count(*) FROM vpbx_pbx WHERE api_key IS NOT NULL OR access_token IS NOT NULL"
            " OR token_expiry IS NOT NULL OR webhook_token IS NOT NULL OR sync_enabled"
        )
        self.assertEqual(cr.fetchone()[0], 0, "no account keeps a secret or the sync")
        pbx = self.pbx.sudo()
        self.assertFalse(pbx.api_key)
        self.assertFalse(pbx.access_token)
        self.assertFalse(pbx.token_expiry)
        self.assertFalse(pbx.webhook_token)
        self.assertFalse(pbx.sync_enabled)
        self.assertFalse(self.env["vpbx.pbx"]._vpbx_from_webhook_token(self.pbx.webhook_token))
        cr.execute("SELECT count(*) FROM hr_employee WHERE vpbx_password IS NOT NULL")
        self.assertEqual(cr.fetchone()[0], 0, "no employee keeps an extension password")
        self.assertFalse(employee.sudo().vpbx_password)
        self.assertEqual(employee.vpbx_extension, "7301", "only the secret goes")
        self.assertFalse(any(crons.mapped("active")), "every cron of the addon is stopped")
        self.assertEqual(task.state, "draft", "a running import is paused")
