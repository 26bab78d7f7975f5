from odoo import fields, models

from ..const import ACTION_PBX


class ResConfigSettings(models.TransientModel):
    """The Settings page only links to the PBX accounts, where everything is set."""

    _inherit = "res.config.settings"

    vpbx_pbx_count = fields.Integer(string="PBX Accounts", compute="_compute_vpbx_pbx_count")

    def _compute_vpbx_pbx_count(self):
        for settings in self:
            settings.vpbx_pbx_count = self.env["vpbx.pbx"].search_count(
                [("company_id", "=", settings.company_id.id)]
            )

    def action_vpbx_open_pbx(self):
        self.ensure_one()
        return self.env["ir.actions.act_window"]._for_xml_id(ACTION_PBX)
