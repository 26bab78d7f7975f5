from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    vpbx_sync_enabled = fields.Boolean(related="company_id.vpbx_sync_enabled", readonly=False)
    vpbx_history_version = fields.Selection(
        related="company_id.vpbx_history_version", readonly=False
    )
    vpbx_history_time_unit = fields.Selection(
        related="company_id.vpbx_history_time_unit", readonly=False
    )
    vpbx_sync_overlap = fields.Integer(related="company_id.vpbx_sync_overlap", readonly=False)
    vpbx_sync_cursor = fields.Datetime(related="company_id.vpbx_sync_cursor")
    vpbx_sync_last_run = fields.Datetime(related="company_id.vpbx_sync_last_run")
    vpbx_sync_last_attempt = fields.Datetime(related="company_id.vpbx_sync_last_attempt")
    vpbx_sync_last_count = fields.Integer(related="company_id.vpbx_sync_last_count")
    vpbx_sync_last_new = fields.Integer(related="company_id.vpbx_sync_last_new")
    vpbx_sync_last_error = fields.Text(related="company_id.vpbx_sync_last_error")
    vpbx_sync_next_page = fields.Integer(related="company_id.vpbx_sync_next_page")
    vpbx_webhook_register_wrapped = fields.Boolean(
        related="company_id.vpbx_webhook_register_wrapped", readonly=False
    )
    vpbx_webhook_register_type = fields.Char(
        related="company_id.vpbx_webhook_register_type", readonly=False
    )
    vpbx_webhook_register_events = fields.Char(
        related="company_id.vpbx_webhook_register_events", readonly=False
    )

    def _vpbx_webhook_options(self):
        # the values on screen, saved or not
        return {
            "hook_type": self.vpbx_webhook_register_type,
            "events": self.vpbx_webhook_register_events or "",
        }

    def action_vpbx_sync_now(self):
        self.ensure_one()
        return self.company_id.action_vpbx_sync_now()

    def action_vpbx_register_webhook(self):
        self.ensure_one()
        return self.company_id.action_vpbx_register_webhook(
            wrapped=self.vpbx_webhook_register_wrapped, **self._vpbx_webhook_options()
        )

    def action_vpbx_list_webhooks(self):
        self.ensure_one()
        return self.company_id.action_vpbx_list_webhooks()

    def action_vpbx_remove_webhook(self):
        self.ensure_one()
        return self.company_id.action_vpbx_remove_webhook(**self._vpbx_webhook_options())

    def action_vpbx_open_history_import(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "sentech_vpbx.action_vpbx_history_import_new"
        )
        action["context"] = {"default_company_id": self.company_id.id}
        return action
