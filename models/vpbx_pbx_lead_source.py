"""Hotline -> UTM source and sales team of the leads made from unknown callers (per account)."""

from odoo import api, fields, models


class VpbxPbxLeadSource(models.Model):
    _name = "vpbx.pbx.lead.source"
    _description = "VPBX Hotline Lead Source"
    _order = "sequence, id"

    pbx_id = fields.Many2one(
        "vpbx.pbx", string="PBX Account", required=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(related="pbx_id.company_id", store=True)
    sequence = fields.Integer(string="Sequence", default=10)
    hotline = fields.Char(
        string="Hotline",
        help="The number the customer called (any way of writing it). Empty: every other"
        " hotline.",
    )
    source_id = fields.Many2one("utm.source", string="Source")
    team_id = fields.Many2one(
        "crm.team",
        string="Sales Team",
        check_company=True,
        help="The team of the new lead; its leader is the salesperson when no agent answered.",
    )

    @api.model_create_multi
    def create(self, vals_list):
        lines = super().create(vals_list)
        self.env.registry.clear_cache()  # the account's CallSettings, in every worker
        return lines

    def write(self, vals):
        result = super().write(vals)
        self.env.registry.clear_cache()
        return result

    def unlink(self):
        result = super().unlink()
        self.env.registry.clear_cache()
        return result
