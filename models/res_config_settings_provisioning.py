from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    vpbx_invite_field_name = fields.Char(
        related="company_id.vpbx_invite_field_name", readonly=False
    )
    vpbx_invite_field_email = fields.Char(
        related="company_id.vpbx_invite_field_email", readonly=False
    )
    vpbx_invite_field_password = fields.Char(
        related="company_id.vpbx_invite_field_password", readonly=False
    )
    vpbx_invite_field_role = fields.Char(
        related="company_id.vpbx_invite_field_role", readonly=False
    )
    vpbx_invite_role = fields.Char(related="company_id.vpbx_invite_role", readonly=False)
    vpbx_invite_field_extension = fields.Char(
        related="company_id.vpbx_invite_field_extension", readonly=False
    )
    vpbx_invite_path_domain = fields.Char(
        related="company_id.vpbx_invite_path_domain", readonly=False
    )
    vpbx_invite_path_extension = fields.Char(
        related="company_id.vpbx_invite_path_extension", readonly=False
    )
    vpbx_invite_path_password = fields.Char(
        related="company_id.vpbx_invite_path_password", readonly=False
    )
    vpbx_invite_path_agent_id = fields.Char(
        related="company_id.vpbx_invite_path_agent_id", readonly=False
    )
