from odoo import models


class ResPartner(models.Model):
    """Click-to-call from a contact's phone or mobile."""

    _inherit = "res.partner"

    def _vpbx_click2call_field(self, fname):
        self.ensure_one()
        company = self.company_id if self.company_id in self.env.user.company_ids else None
        return self.env["vpbx.click2call"]._vpbx_click2call(
            self[fname],
            company=company,
            partner=self,
            region=self.country_id.code or None,
        )

    def action_vpbx_call_phone(self):
        return self._vpbx_click2call_field("phone")

    def action_vpbx_call_mobile(self):
        return self._vpbx_click2call_field("mobile")
