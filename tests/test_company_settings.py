"""Company settings: URL validation, webhook token, test connection, shared token, neutralize."""

import socket

from odoo.addons.sentech_vpbx.tools.vpbx_simulator import VpbxSimulator
from odoo.exceptions import UserError, ValidationError
from odoo.modules.neutralize import get_neutralization_queries
from odoo.tests import TransactionCase, tagged


@tagged("post_install", "-at_install")
class TestCompanySettings(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sim = VpbxSimulator(api_key="settings-key", port=0)
        cls.sim.start()
        cls.addClassCleanup(cls.sim.stop)
        cls.company = cls.env.company
        cls.company.write(
            {
                "vpbx_api_url": cls.sim.url,
                "vpbx_api_key": "settings-key",
                "vpbx_timeout": 2.0,
            }
        )

    def setUp(self):
        super().setUp()
        self.sim.reset()

    def test_invalid_url_refused_on_save(self):
        for url in ("ftp://pbx.example.vn", "not a url", "http://", "javascript:alert(1)"):
            with self.subTest(url=url), self.assertRaises(ValidationError):
                self.company.write({"vpbx_api_url": url})
                self.company.flush_recordset()

    def test_url_trailing_slash_stripped(self):
        self.company.vpbx_api_url = self.sim.url + "/ "
        self.assertEqual(self.company.vpbx_api_url, self.sim.url)

    def test_webhook_token_created_on_first_need(self):
        company = self.env["res.company"].create({"name": "Token Co"})
        self.assertFalse(company.vpbx_webhook_token)
        url = company._vpbx_webhook_url()
        token = company.vpbx_webhook_token
        self.assertGreaterEqual(len(token), 43, "32 random bytes, URL-safe base64")
        self.assertRegex(token, r"^[A-Za-z0-9_-]+$")
        base = self.env["ir.config_parameter"].get_param("web.base.url")
        self.assertEqual(url, f"{base}/vpbx/webhook/{token}")
        # asking again gives the same token; regenerating gives another one
        self.assertEqual(company._vpbx_webhook_url(), url)
        company.action_vpbx_regenerate_webhook_token()
        self.assertNotEqual(company.vpbx_webhook_token, token)
        Company = self.env["res.company"]
        self.assertEqual(
            Company._vpbx_company_from_webhook_token(company.vpbx_webhook_token), company
        )
        self.assertFalse(Company._vpbx_company_from_webhook_token(token))
        self.assertFalse(Company._vpbx_company_from_webhook_token(""))

    def test_settings_show_webhook_url(self):
        settings = self.env["res.config.settings"].create({})
        self.assertIn("/vpbx/webhook/", settings.vpbx_webhook_url)
        self.assertTrue(settings.vpbx_webhook_url.endswith(self.company.vpbx_webhook_token))

    def test_test_connection_success(self):
        action = self.company.action_vpbx_test_connection()
        self.assertEqual(action["params"]["type"], "success")
        self.assertIn(self.sim.url, action["params"]["message"])
        self.assertEqual(self.sim.auth_count, 1)

    def test_test_connection_wrong_key(self):
        self.company.vpbx_api_key = "wrong-key"
        with self.assertRaises(UserError) as caught:
            self.company.action_vpbx_test_connection()
        self.assertEqual(str(caught.exception.args[0]), "API key invalid (api_key_invalid)")

    def test_wrong_key_message_in_vietnamese(self):
        self.env["res.lang"]._activate_lang("vi_VN")
        self.company.vpbx_api_key = "wrong-key"
        with self.assertRaises(UserError) as caught:
            self.company.with_context(lang="vi_VN").action_vpbx_test_connection()
        self.assertEqual(caught.exception.args[0], "API key không hợp lệ (api_key_invalid)")

    def test_test_connection_refused(self):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.company.vpbx_api_url = f"http://127.0.0.1:{port}"
        with self.assertRaises(UserError) as caught:
            self.company.action_vpbx_test_connection()
        self.assertEqual(
            caught.exception.args[0],
            f"Cannot reach VPBX at http://127.0.0.1:{port}: connection refused",
        )

    def test_test_connection_garbage_reply(self):
        # (time-outs are covered in test_vpbx_client: Odoo's test harness raises any
        # requests time-out below 10 s to 10 s for code that runs through the ORM layer)
        self.sim.inject_fault("*", "http_502_html", count=5)
        with self.assertRaises(UserError) as caught:
            self.company.action_vpbx_test_connection()
        self.assertIn("502", caught.exception.args[0])

    def test_not_configured(self):
        company = self.env["res.company"].create({"name": "Unconfigured Co"})
        with self.assertRaises(UserError):
            company.action_vpbx_test_connection()

    def test_token_cached_on_company(self):
        """Two clients (two requests, two workers) share the token stored on the company."""
        self.company._vpbx_client().list_agents(size=1)
        self.assertTrue(self.company.sudo().vpbx_access_token)
        self.company._vpbx_client().list_agents(size=1)
        self.assertEqual(self.sim.auth_count, 1)
        # a changed key must not reuse a token issued for the old one
        self.company.vpbx_api_key = "settings-key"
        self.assertFalse(self.company.sudo().vpbx_access_token)

    def test_token_refreshed_once_after_expiry_on_pbx(self):
        client = self.company._vpbx_client()
        client.list_agents(size=1)
        self.sim.expire_tokens()
        self.company._vpbx_client().list_agents(size=1)
        self.assertEqual(self.sim.auth_count, 2)

    def test_neutralize_clears_secrets(self):
        self.company._vpbx_ensure_webhook_token()
        self.company._vpbx_client().list_agents(size=1)
        self.company.vpbx_sync_enabled = True
        self.env.flush_all()
        queries = list(get_neutralization_queries(["sentech_vpbx"]))
        self.assertTrue(queries)
        for query in queries:
            self.env.cr.execute(query)
        self.env.invalidate_all()
        company = self.company.sudo()
        self.assertFalse(company.vpbx_api_key)
        self.assertFalse(company.vpbx_access_token)
        self.assertFalse(company.vpbx_webhook_token)
        self.assertFalse(company.vpbx_sync_enabled)
        crons = self.env["ir.model.data"].search(
            [("module", "=", "sentech_vpbx"), ("model", "=", "ir.cron")]
        )
        self.assertIn(
            self.env.ref("sentech_vpbx.ir_cron_vpbx_history_sync").id, crons.mapped("res_id")
        )
        self.assertFalse(any(self.env["ir.cron"].browse(crons.mapped("res_id")).mapped("active")))
