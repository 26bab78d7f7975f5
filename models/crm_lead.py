"""Calls of a lead or opportunity, its numbers' keys for the lookup, and Call buttons.

A lead's ``phone`` and ``mobile`` are indexed like contacts' numbers (``vpbx.lead.phone``):
rewritten on create (imports too) and on any write of a number, the country or the company;
a lead that gets a number picks up the earlier calls of that number that have no lead yet.
Merging leads moves every call of the merged ones onto the lead that remains.
"""

from odoo import Command, api, fields, models

from ..const import ACTION_CALLS, GROUP_USER
from ..services.partner_keys import DEFAULT_REGION
from .vpbx_lead_phone import LEAD_KEY_FIELDS

#: A write touching one of these rewrites the lead's phone keys (the country and the company
#: give the region of numbers written without +). Won, lost, archived: read at lookup time.
LEAD_KEY_TRIGGERS = frozenset(LEAD_KEY_FIELDS) | {"company_id", "country_id"}


class CrmLead(models.Model):
    _inherit = "crm.lead"

    vpbx_call_ids = fields.One2many("vpbx.call", "lead_id", string="VPBX Calls", groups=GROUP_USER)
    vpbx_call_count = fields.Integer(
        string="Calls", compute="_compute_vpbx_call_count", groups=GROUP_USER
    )

    def _compute_vpbx_call_count(self):
        counts = dict(
            self.env["vpbx.call"]._read_group(
                [("lead_id", "in", self.ids)], ["lead_id"], ["__count"]
            )
        )
        for lead in self:
            lead.vpbx_call_count = counts.get(lead._origin, 0)

    def action_vpbx_open_calls(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(ACTION_CALLS)
        action["domain"] = [("lead_id", "=", self.id)]
        action["context"] = {"default_lead_id": self.id}
        action["display_name"] = self.env._("Calls of %(name)s", name=self.display_name)
        return action

    def _vpbx_click2call_field(self, fname):
        self.ensure_one()
        company = self.company_id if self.company_id in self.env.user.company_ids else None
        return self.env["vpbx.click2call"]._vpbx_click2call(
            self[fname],
            company=company,
            partner=self.partner_id or None,
            region=self.country_id.code or None,
            lead=self,
        )

    def action_vpbx_call_phone(self):
        return self._vpbx_click2call_field("phone")

    def action_vpbx_call_mobile(self):
        return self._vpbx_click2call_field("mobile")

    # ------------------------------------------------------------------ phone keys

    @api.model_create_multi
    def create(self, vals_list):
        leads = super().create(vals_list)
        with_numbers = leads.filtered(lambda lead: lead.phone or lead.mobile)
        if with_numbers:
            with_numbers._vpbx_update_phone_keys(new=True)
        return leads

    def write(self, vals):
        # phone and mobile may also change through their computes (a new customer's numbers)
        before = {lead.id: (lead.phone, lead.mobile) for lead in self}
        result = super().write(vals)
        changed = self.filtered(lambda lead: before.get(lead.id) != (lead.phone, lead.mobile))
        if not LEAD_KEY_TRIGGERS.isdisjoint(vals):
            changed = self
        if changed:
            changed._vpbx_update_phone_keys()
        return result

    def _vpbx_update_phone_keys(self, new=False):
        """Rewrite the phone keys of these leads, then link earlier calls without a lead."""
        Phone = self.env["vpbx.lead.phone"].sudo()
        rows = []
        for lead in self:
            region = lead.country_id.code or lead.company_id.country_id.code or DEFAULT_REGION
            rows += Phone._vpbx_rows(
                lead.id, region, [(fname, lead[fname]) for fname in LEAD_KEY_FIELDS]
            )
        Phone._vpbx_replace(self.ids, rows, delete=not new)
        keys = list({row[1] for row in rows})
        if keys:
            self.env["vpbx.call"].sudo()._vpbx_relink_unlinked_leads(keys)

    # ------------------------------------------------------------------ merge

    def _merge_dependences(self, opportunities):
        """The calls of the merged leads are this lead's from now on (the others are deleted)."""
        result = super()._merge_dependences(opportunities)
        Call = self.env["vpbx.call"].sudo().with_context(active_test=False)
        Call.search([("lead_id", "in", opportunities.ids)]).write({"lead_id": self.id})
        for call in Call.search([("candidate_lead_ids", "in", opportunities.ids)]):
            call.candidate_lead_ids = [
                *(Command.unlink(lead.id) for lead in opportunities),
                Command.link(self.id),
            ]
        return result
