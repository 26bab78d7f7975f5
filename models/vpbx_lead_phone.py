"""Normalised phone keys of leads and opportunities: the sibling of ``vpbx.partner.phone``.

One row per (lead, key), written by plain SQL from the crm.lead create/write hooks (an import
goes through create). Rows exist for every lead with a number, open or not: whether a lead is
open (active, its stage not won) is read from ``crm_lead`` at lookup time, so winning, losing,
archiving or restoring a lead needs no rewrite of its keys and can never leave them stale.
"""

from odoo import api, fields, models

from ..services.lead_keys import LEAD_NUMBERS_QUERY, lead_key_rows, rows_of_leads
from . import vpbx_phone_key  # noqa: F401 (the abstract model, defined first)

#: Lead fields whose numbers are indexed.
LEAD_KEY_FIELDS = ("phone", "mobile")

#: SQL condition of an open lead ``l`` (joined with its stage ``s``): lost leads are archived
#: (``action_set_lost``), won ones sit in a won stage.
OPEN_LEAD = "l.active AND NOT COALESCE(s.is_won, FALSE)"


class VpbxLeadPhone(models.Model):
    _name = "vpbx.lead.phone"
    _inherit = "vpbx.phone.key"
    _description = "VPBX Lead Phone Key"
    _order = "lead_id, rank, id"
    _vpbx_owner = "lead_id"
    _vpbx_columns = ("lead_id", "key", "field", "rank")
    _vpbx_numbers_query = LEAD_NUMBERS_QUERY
    _vpbx_label = "leads"

    lead_id = fields.Many2one(
        "crm.lead", string="Lead", required=True, ondelete="cascade", index=True
    )

    @api.model
    def _vpbx_rows(self, lead_id, region, numbers):
        return lead_key_rows(lead_id, region, numbers)

    # ------------------------------------------------------------------ lookup

    @api.model
    def _vpbx_find_leads(self, company_id, keys, partner_ids=()):
        """Open leads of `company_id` (or without company) carrying one of `keys`, and open
        opportunities of the contacts `partner_ids`:
        ``[(lead_id, is_opportunity, user_id, of_contact, write_date)]``."""
        return self._vpbx_find_leads_many(company_id, [(list(keys), list(partner_ids))])[0]

    @api.model
    def _vpbx_find_leads_many(self, company_id, queries):
        """``_vpbx_find_leads`` of each ``(keys, partner_ids)`` of `queries` (the calls of a
        batch), in ONE query for all through the key index and ``crm_lead.partner_id`` (a
        UNION: each half uses its index; an OR would scan crm_lead), list for list."""
        all_keys = list({key for keys, _partners in queries for key in keys})
        all_partners = list({pid for _keys, partners in queries for pid in partners})
        if not all_keys and not all_partners:
            return [[] for _query in queries]
        self.env["crm.lead"].flush_model(
            ["active", "stage_id", "company_id", "partner_id", "type", "user_id"]
        )
        self.env.cr.execute(
            """
            SELECT l.id, l.type = 'opportunity', l.user_id, l.partner_id, l.write_date,
                   found.key
              FROM (SELECT k.lead_id AS id, k.key FROM vpbx_lead_phone k
                     WHERE k.key = ANY(%(keys)s::varchar[])
                     UNION ALL
                    SELECT o.id, NULL FROM crm_lead o
                     WHERE o.partner_id = ANY(%(partners)s::int[]) AND o.type = 'opportunity'
                   ) AS found
              JOIN crm_lead l ON l.id = found.id
         LEFT JOIN crm_stage s ON s.id = l.stage_id
             WHERE """
            + OPEN_LEAD
            + """
               AND (l.company_id IS NULL OR l.company_id = %(company)s)
            """,
            {"keys": all_keys, "partners": all_partners, "company": company_id},
        )
        by_key, of_partner, leads = {}, {}, {}
        for lead_id, is_opportunity, user_id, partner_id, write_date, key in self.env.cr.fetchall():
            leads[lead_id] = (is_opportunity, user_id, partner_id, write_date)
            if key is not None:
                by_key.setdefault(key, set()).add(lead_id)
            elif partner_id is not None:
                of_partner.setdefault(partner_id, set()).add(lead_id)
        found = []
        for keys, partner_ids in queries:
            ids = set().union(*(by_key.get(key, ()) for key in keys))
            ids.update(*(of_partner.get(pid, ()) for pid in partner_ids))
            rows = []
            for lead_id in ids:
                is_opportunity, user_id, partner_id, write_date = leads[lead_id]
                of_contact = bool(is_opportunity and partner_id in partner_ids)
                rows.append((lead_id, is_opportunity, user_id, of_contact, write_date))
            found.append(rows)
        return found

    def _vpbx_rows_of(self, batch):
        return rows_of_leads(batch)
