"""Normalised phone keys of leads and opportunities: the sibling of ``vpbx.partner.phone``.

One row per (lead, key), written by plain SQL from the crm.lead create/write hooks (an import
goes through create). Rows exist for every lead with a number, open or not: whether a lead is
open (active, its stage not won) is read from ``crm_lead`` at lookup time, so winning, losing,
archiving or restoring a lead needs no rewrite of its keys and can never leave them stale.
"""

import logging

from odoo import api, fields, models

from ..services.lead_keys import LEAD_NUMBERS_QUERY, lead_key_rows, rows_of_leads

_logger = logging.getLogger(__name__)

#: Lead fields whose numbers are indexed.
LEAD_KEY_FIELDS = ("phone", "mobile")
INSERT_CHUNK = 1000
INIT_BATCH = 5000
MAX_ID = 2**31 - 1

#: SQL condition of an open lead ``l`` (joined with its stage ``s``): lost leads are archived
#: (``action_set_lost``), won ones sit in a won stage.
OPEN_LEAD = "l.active AND NOT COALESCE(s.is_won, FALSE)"
#: SQL of the ids of the leads carrying one of %(keys)s and of the opportunities of the contacts
#: %(partners)s: a UNION, so that each half uses its index (an OR would scan crm_lead)
LEAD_IDS = """
    SELECT k.lead_id AS id FROM vpbx_lead_phone k WHERE k.key = ANY(%(keys)s::varchar[])
     UNION
    SELECT o.id FROM crm_lead o
     WHERE o.partner_id = ANY(%(partners)s::int[]) AND o.type = 'opportunity'
"""


class VpbxLeadPhone(models.Model):
    _name = "vpbx.lead.phone"
    _description = "VPBX Lead Phone Key"
    _log_access = False
    _rec_name = "key"
    _order = "lead_id, rank, id"

    lead_id = fields.Many2one(
        "crm.lead", string="Lead", required=True, ondelete="cascade", index=True
    )
    key = fields.Char(string="Key", required=True, index=True, help="E.164 form of the number.")
    field = fields.Selection(
        [("phone", "Phone"), ("mobile", "Mobile")], string="Field", required=True
    )
    rank = fields.Integer(
        string="Rank", help="0: today's reading of the number; 1: an older reading of it."
    )

    @api.model
    def _vpbx_rows(self, lead_id, region, numbers):
        return lead_key_rows(lead_id, region, numbers)

    @api.model
    def _vpbx_replace(self, lead_ids, rows, delete=True):
        """Replace the rows of `lead_ids` by `rows` (plain SQL, batched)."""
        cr = self.env.cr
        if delete and lead_ids:
            cr.execute("DELETE FROM vpbx_lead_phone WHERE lead_id = ANY(%s)", [lead_ids])
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start : start + INSERT_CHUNK]
            values = ", ".join(["(%s, %s, %s, %s)"] * len(chunk))
            cr.execute(
                "INSERT INTO vpbx_lead_phone (lead_id, key, field, rank)"
                f" VALUES {values}",  # only placeholders are formatted in
                [value for row in chunk for value in row],
            )
        self.invalidate_model()

    # ------------------------------------------------------------------ lookup

    @api.model
    def _vpbx_find_leads(self, company_id, keys, partner_ids=()):
        """Open leads of `company_id` (or without company) carrying one of `keys`, and open
        opportunities of the contacts `partner_ids`: one query through the key index.

        Returns ``[(lead_id, is_opportunity, user_id, of_contact, write_date)]``.
        """
        if not keys and not partner_ids:
            return []
        self.env["crm.lead"].flush_model(
            ["active", "stage_id", "company_id", "partner_id", "type", "user_id"]
        )
        self.env.cr.execute(
            f"""
            SELECT l.id, l.type = 'opportunity', l.user_id,
                   l.type = 'opportunity' AND l.partner_id = ANY(%(partners)s::int[]), l.write_date
              FROM ({LEAD_IDS}) AS found
              JOIN crm_lead l ON l.id = found.id
         LEFT JOIN crm_stage s ON s.id = l.stage_id
             WHERE {OPEN_LEAD}
               AND (l.company_id IS NULL OR l.company_id = %(company)s)
            """,
            {"keys": list(keys), "partners": list(partner_ids), "company": company_id},
        )
        return self.env.cr.fetchall()

    # ------------------------------------------------------------------ existing leads

    def init(self):
        """Fill the table for leads that existed before the module (install or empty table)."""
        cr = self.env.cr
        cr.execute("SELECT 1 FROM vpbx_lead_phone LIMIT 1")
        if cr.fetchone():
            return
        self._vpbx_rebuild()

    @api.model
    def _vpbx_rebuild(self):
        """Recompute every key from the leads' numbers, in batches of INIT_BATCH leads."""
        cr = self.env.cr
        cr.execute("DELETE FROM vpbx_lead_phone")
        last_id, total = 0, 0
        while True:
            cr.execute(LEAD_NUMBERS_QUERY, [last_id, MAX_ID, INIT_BATCH])
            batch = cr.fetchall()
            if not batch:
                break
            rows = rows_of_leads(batch)
            self._vpbx_replace([], rows, delete=False)
            total += len(rows)
            last_id = batch[-1][0]
        _logger.info("VPBX: %s phone keys indexed for existing leads", total)
        return total
