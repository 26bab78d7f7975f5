from odoo import fields, models

from ..services.phone import national_number, normalize

NUMBER_FORMATS = [
    ("national", "National (0912345678)"),
    ("e164", "International (+84912345678)"),
    ("e164_no_plus", "International without + (84912345678)"),
]


class ResCompany(models.Model):
    """Click-to-call settings: the caller ID and how the PBX wants the customer's number."""

    _inherit = "res.company"

    vpbx_hotline = fields.Char(
        string="VPBX Hotline",
        help="Outbound number (caller ID) sent with click-to-call; an employee may have their"
        " own. Empty: the PBX chooses.",
    )
    vpbx_click2call_number_format = fields.Selection(
        NUMBER_FORMATS,
        string="VPBX Click-to-Call Number Format",
        default="national",
        required=True,
        help="How the customer's number is written in click-to-call requests.",
    )
    vpbx_click2call_match_minutes = fields.Integer(
        string="VPBX Click-to-Call Match Window (minutes)",
        default=10,
        help="A call record the PBX sends with an id of its own completes the pending"
        " click-to-call of the same extension and number started within this many minutes.",
    )

    def _vpbx_click2call_number(self, number, region=None):
        """`number` written as this company's PBX expects it, or None if it is no number."""
        self.ensure_one()
        region = region or self._vpbx_number_region()
        if self.vpbx_click2call_number_format == "e164":
            return normalize(number, region)
        if self.vpbx_click2call_number_format == "e164_no_plus":
            key = normalize(number, region)
            return key and key.lstrip("+")
        return national_number(number, region)
