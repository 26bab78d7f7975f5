from odoo import fields, models


class ResCompany(models.Model):
    """A company's PBX accounts; everything set per tenant lives on ``vpbx.pbx``."""

    _inherit = "res.company"

    vpbx_pbx_ids = fields.One2many("vpbx.pbx", "company_id", string="PBX Accounts")

    def write(self, vals):
        result = super().write(vals)
        if "partner_id" in vals:
            # the region of an account's numbers is its company's country (see res.partner)
            self.env.registry.clear_cache()
        return result
