from odoo import fields, models

from ..services.call_record import CallMapping

_DEFAULT = CallMapping()


class ResCompany(models.Model):
    """How PBX call payloads map to statuses, and what happens when a call ends."""

    _inherit = "res.company"

    vpbx_answered_dispositions = fields.Char(
        string="VPBX Answered Dispositions",
        default=",".join(_DEFAULT.answered_dispositions),
        help="Comma-separated dispositions that mean the call was answered.",
    )
    vpbx_missed_dispositions = fields.Char(
        string="VPBX Missed Dispositions",
        default=",".join(_DEFAULT.missed_dispositions),
        help="Comma-separated dispositions that mean the call was not answered.",
    )
    vpbx_live_states = fields.Char(
        string="VPBX Live States",
        default=",".join(_DEFAULT.live_states),
        help="Comma-separated values of 'state' that mark a live event (the call goes on); any"
        " other state, or none, is a finished call.",
    )
    vpbx_post_call_note = fields.Boolean(
        string="VPBX Call Note on Contact",
        default=True,
        help="Post a short note on the contact's chatter when a call ends.",
    )
    vpbx_missed_call_user_id = fields.Many2one(
        "res.users",
        string="VPBX Missed Call Fallback User",
        help="Gets the 'Call back' activity of a missed inbound call when no agent is known.",
    )

    def _vpbx_call_mapping(self):
        """The CallMapping of this company's settings (empty settings mean the defaults)."""
        self.ensure_one()
        return CallMapping.from_settings(
            answered=self.vpbx_answered_dispositions,
            missed=self.vpbx_missed_dispositions,
            live_states=self.vpbx_live_states,
        )

    def _vpbx_number_region(self):
        """Region of the numbers the PBX sends: the company's country, else Vietnam."""
        self.ensure_one()
        return self.country_id.code or "VN"
