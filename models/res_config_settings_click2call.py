from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    vpbx_hotline = fields.Char(related="company_id.vpbx_hotline", readonly=False)
    vpbx_click2call_number_format = fields.Selection(
        related="company_id.vpbx_click2call_number_format", readonly=False
    )
    vpbx_click2call_match_minutes = fields.Integer(
        related="company_id.vpbx_click2call_match_minutes", readonly=False
    )
