"""Register, list and remove a PBX account's webhook on the PBX (simulator)."""

from odoo.addons.sentech_vpbx.tools.vpbx_simulator import VpbxSimulator
from odoo.exceptions import UserError
from odoo.tests import TransactionCase, tagged

from .common import make_pbx

KEY = "webhook-reg-sim-key"


@tagged("post_install", "-at_install")
class TestWebhookRegistration(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sim = VpbxSimulator(api_key=KEY, seed=3).start()
        cls.addClassCleanup(cls.sim.stop)
        cls.company = cls.env.company
        cls.env["ir.config_parameter"].sudo().set_param("web.base.url", "https://odoo.example.com")
        cls.pbx = make_pbx(cls.env)

    def setUp(self):
        super().setUp()
        self.sim.reset()
        self.pbx.write(
            {
                "api_url": self.sim.url,
                "api_key": KEY,
                "webhook_register_wrapped": True,
                "webhook_register_type": "call",
                "webhook_register_events": False,
            }
        )
        self.url = self.pbx._vpbx_webhook_url()

    def register_bodies(self):
        return [r["json"] for r in self.sim.calls_for("webhook_register")]

    def test_register_wrapped(self):
        action = self.pbx.action_register_webhook()
        self.assertEqual(action["params"]["type"], "success")
        self.assertEqual(
            self.register_bodies(), [{"webhook": {"type": "call", "url": self.url, "events": None}}]
        )
        self.assertEqual(self.sim.webhooks["call"]["url"], self.url)
        self.assertTrue(self.url.startswith("https://odoo.example.com/vpbx/webhook/"))
        self.assertTrue(self.url.endswith("/" + self.pbx.sudo().webhook_token))
        self.assertEqual(self.pbx.webhook_url, self.url, "the URL shown on the account")

    def test_register_flat_with_live_events(self):
        # the values saved on the account (a form saves them before running its button)
        self.pbx.write(
            {
                "webhook_register_wrapped": False,
                "webhook_register_events": "ringing, answered,hangup",
            }
        )
        self.pbx.action_register_webhook()
        self.assertEqual(
            self.register_bodies(),
            [
                {"type": "call", "url": self.url, "events": None},
                {
                    "type": "call_event",
                    "url": self.url,
                    "events": ["ringing", "answered", "hangup"],
                },
            ],
        )
        self.assertEqual(set(self.sim.webhooks), {"call", "call_event"})
        self.assertEqual(
            self.sim.webhooks["call_event"]["events"], ["ringing", "answered", "hangup"]
        )

    def test_list_marks_own_webhook(self):
        action = self.pbx.action_list_webhooks()
        self.assertEqual(action["params"]["type"], "warning", "nothing registered yet")
        self.sim.webhooks["contact"] = {
            "type": "contact",
            "url": "https://crm.example.com/hook",
            "events": None,
        }
        self.pbx.action_register_webhook()
        message = self.pbx.action_list_webhooks()["params"]["message"]
        self.assertIn(f"call: {self.url} [this account]", message)
        self.assertIn("contact: https://crm.example.com/hook", message)
        self.assertNotIn("crm.example.com/hook [this account]", message)

    def test_remove(self):
        self.pbx.webhook_register_events = "ringing,hangup"
        self.pbx.action_register_webhook()
        self.assertEqual(set(self.sim.webhooks), {"call", "call_event"})
        action = self.pbx.action_remove_webhook()
        self.assertEqual(action["params"]["type"], "success")
        self.assertEqual(self.sim.webhooks, {})
        destroyed = [r["query"]["hook_type"] for r in self.sim.calls_for("webhook_destroy")]
        self.assertEqual(destroyed, ["call", "call_event"])
        # nothing left: a warning, not an error
        action = self.pbx.action_remove_webhook()
        self.assertEqual(action["params"]["type"], "warning")

    def test_pbx_error_is_shown(self):
        self.sim.inject_fault("webhook_register", "error", code="permission_denied")
        with self.assertRaises(UserError) as caught:
            self.pbx.action_register_webhook()
        self.assertIn("(permission_denied)", str(caught.exception))
        self.assertFalse(self.sim.webhooks)

    def test_not_configured(self):
        self.pbx.api_key = False
        with self.assertRaises(UserError):
            self.pbx.action_register_webhook()
