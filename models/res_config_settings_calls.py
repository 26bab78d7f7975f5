from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    vpbx_answered_dispositions = fields.Char(
        related="company_id.vpbx_answered_dispositions", readonly=False
    )
    vpbx_missed_dispositions = fields.Char(
        related="company_id.vpbx_missed_dispositions", readonly=False
    )
    vpbx_live_states = fields.Char(related="company_id.vpbx_live_states", readonly=False)
    vpbx_post_call_note = fields.Boolean(related="company_id.vpbx_post_call_note", readonly=False)
    vpbx_missed_call_user_id = fields.Many2one(
        related="company_id.vpbx_missed_call_user_id", readonly=False
    )
    vpbx_webhook_queued = fields.Boolean(related="company_id.vpbx_webhook_queued", readonly=False)
