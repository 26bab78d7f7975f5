from odoo import fields, models

MANAGER = "sentech_vpbx.group_vpbx_manager"


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    vpbx_api_url = fields.Char(related="company_id.vpbx_api_url", readonly=False)
    vpbx_api_key = fields.Char(related="company_id.vpbx_api_key", readonly=False, groups=MANAGER)
    vpbx_auth_mode = fields.Selection(related="company_id.vpbx_auth_mode", readonly=False)
    vpbx_token_lifetime = fields.Float(related="company_id.vpbx_token_lifetime", readonly=False)
    vpbx_timeout = fields.Float(related="company_id.vpbx_timeout", readonly=False)
    vpbx_path_auth = fields.Char(related="company_id.vpbx_path_auth", readonly=False)
    vpbx_path_agent_invite = fields.Char(
        related="company_id.vpbx_path_agent_invite", readonly=False
    )
    vpbx_path_agent_list = fields.Char(related="company_id.vpbx_path_agent_list", readonly=False)
    vpbx_path_internal_phone_list = fields.Char(
        related="company_id.vpbx_path_internal_phone_list", readonly=False
    )
    vpbx_path_click2call = fields.Char(related="company_id.vpbx_path_click2call", readonly=False)
    vpbx_path_history_v2 = fields.Char(related="company_id.vpbx_path_history_v2", readonly=False)
    vpbx_path_history_v3 = fields.Char(related="company_id.vpbx_path_history_v3", readonly=False)
    vpbx_path_webhook_list = fields.Char(
        related="company_id.vpbx_path_webhook_list", readonly=False
    )
    vpbx_path_webhook_register = fields.Char(
        related="company_id.vpbx_path_webhook_register", readonly=False
    )
    vpbx_path_webhook_destroy = fields.Char(
        related="company_id.vpbx_path_webhook_destroy", readonly=False
    )
    vpbx_webhook_url = fields.Char(compute="_compute_vpbx_webhook_url", groups=MANAGER)

    def _compute_vpbx_webhook_url(self):
        for settings in self:
            # the token is created on first need: opening the settings is that need
            settings.vpbx_webhook_url = settings.company_id.sudo()._vpbx_webhook_url()

    def action_vpbx_test_connection(self):
        self.ensure_one()
        return self.company_id.action_vpbx_test_connection()

    def action_vpbx_regenerate_webhook_token(self):
        self.ensure_one()
        return self.company_id.action_vpbx_regenerate_webhook_token()
