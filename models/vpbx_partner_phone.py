"""Normalised phone keys of contacts: the index every call lookup reads.

One row per (contact, key): ``phone`` and ``mobile`` each give one or two E.164 keys
(``services.phone.phone_keys``: modern reading first, rank 0; an old reading, rank 1). Rows are
written by plain SQL in batches from the res.partner create/write hooks (an import goes through
create), never through the ORM: a 100k-contact import must not pay one INSERT per key.
"""

import logging

from odoo import api, fields, models

from ..services.partner_keys import (
    CONTACT_NUMBERS_QUERY,
    key_rows,
    rows_of_contacts,
)

_logger = logging.getLogger(__name__)

#: Contact fields whose numbers are indexed.
KEY_FIELDS = ("phone", "mobile")
#: Rows per INSERT statement.
INSERT_CHUNK = 1000
#: Contacts read per batch when the table is filled for existing contacts.
INIT_BATCH = 5000
#: Upper bound of contact ids when every contact is read.
MAX_ID = 2**31 - 1


class VpbxPartnerPhone(models.Model):
    _name = "vpbx.partner.phone"
    _description = "VPBX Contact Phone Key"
    _log_access = False
    _rec_name = "key"
    _order = "partner_id, rank, id"

    partner_id = fields.Many2one(
        "res.partner", string="Contact", required=True, ondelete="cascade", index=True
    )
    # the contact's company (empty: shared contact); the lookup filters on it
    company_id = fields.Many2one("res.company", string="Company", ondelete="set null")
    key = fields.Char(string="Key", required=True, index=True, help="E.164 form of the number.")
    field = fields.Selection(
        [("phone", "Phone"), ("mobile", "Mobile")], string="Field", required=True
    )
    rank = fields.Integer(
        string="Rank", help="0: today's reading of the number; 1: an older reading of it."
    )

    # ------------------------------------------------------------------ building rows

    @api.model
    def _vpbx_rows(self, partner_id, company_id, region, numbers):
        """Rows (partner_id, company_id, key, field, rank) of one contact; a key appears once."""
        return key_rows(partner_id, company_id, region, numbers)

    @api.model
    def _vpbx_replace(self, partner_ids, rows, delete=True):
        """Replace the rows of `partner_ids` by `rows` (plain SQL, batched)."""
        cr = self.env.cr
        if delete and partner_ids:
            cr.execute("DELETE FROM vpbx_partner_phone WHERE partner_id = ANY(%s)", [partner_ids])
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start : start + INSERT_CHUNK]
            values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(chunk))
            cr.execute(
                "INSERT INTO vpbx_partner_phone (partner_id, company_id, key, field, rank)"
                f" VALUES {values}",  # only placeholders are formatted in
                [value for row in chunk for value in row],
            )
        self.invalidate_model()

    # ------------------------------------------------------------------ lookup

    @api.model
    def _vpbx_find_partners(self, company_id, keys):
        """Active contacts of `company_id` (or shared) having one of `keys`.

        One index equality lookup (``key = ANY``). Returns a list of
        ``(partner_id, score, is_company)``; score = rank of the key on the contact + its position
        in `keys` (0: both are today's reading of the number).
        """
        if not keys:
            return []
        self.env["res.partner"].flush_model(["active", "is_company"])
        self.env.cr.execute(
            """
            SELECT k.partner_id,
                   MIN(k.rank + array_position(%(keys)s::varchar[], k.key) - 1) AS score,
                   p.is_company
              FROM vpbx_partner_phone k
              JOIN res_partner p ON p.id = k.partner_id
             WHERE k.key = ANY(%(keys)s::varchar[])
               AND p.active
               AND (k.company_id IS NULL OR k.company_id = %(company)s)
          GROUP BY k.partner_id, p.is_company
            """,
            {"keys": list(keys), "company": company_id},
        )
        return [(pid, score, bool(is_company)) for pid, score, is_company in self.env.cr.fetchall()]

    # ------------------------------------------------------------------ existing contacts

    def init(self):
        """Fill the table for contacts that existed before the module (install or empty table)."""
        cr = self.env.cr
        cr.execute("SELECT 1 FROM vpbx_partner_phone LIMIT 1")
        if cr.fetchone():
            return
        self._vpbx_rebuild()

    @api.model
    def _vpbx_rebuild(self):
        """Recompute every key from the contacts' numbers, in batches of INIT_BATCH contacts."""
        cr = self.env.cr
        cr.execute("DELETE FROM vpbx_partner_phone")
        last_id, total = 0, 0
        while True:
            cr.execute(CONTACT_NUMBERS_QUERY, [last_id, MAX_ID, INIT_BATCH])
            batch = cr.fetchall()
            if not batch:
                break
            rows = rows_of_contacts(batch)
            self._vpbx_replace([], rows, delete=False)
            total += len(rows)
            last_id = batch[-1][0]
        _logger.info("VPBX: %s phone keys indexed for existing contacts", total)
        return total
