"""Normalised phone keys of contacts: the index every call lookup reads.

One row per (contact, key): ``phone`` and ``mobile`` each give one or two E.164 keys
(``services.phone.phone_keys``: modern reading first, rank 0; an old reading, rank 1). Rows are
written by plain SQL in batches from the res.partner create/write hooks (an import goes through
create), never through the ORM: a 100k-contact import must not pay one INSERT per key.
"""

from odoo import api, fields, models

from ..services.partner_keys import (
    CONTACT_NUMBERS_QUERY,
    key_rows,
    rows_of_contacts,
)
from . import vpbx_phone_key  # noqa: F401 (the abstract model, defined first)

#: Contact fields whose numbers are indexed.
KEY_FIELDS = ("phone", "mobile")


class VpbxPartnerPhone(models.Model):
    _name = "vpbx.partner.phone"
    _inherit = "vpbx.phone.key"
    _description = "VPBX Contact Phone Key"
    _order = "partner_id, rank, id"
    _vpbx_owner = "partner_id"
    _vpbx_columns = ("partner_id", "company_id", "key", "field", "rank")
    _vpbx_numbers_query = CONTACT_NUMBERS_QUERY
    _vpbx_label = "contacts"

    partner_id = fields.Many2one(
        "res.partner", string="Contact", required=True, ondelete="cascade", index=True
    )
    # the contact's company (empty: shared contact); the lookup filters on it
    company_id = fields.Many2one("res.company", string="Company", ondelete="set null")

    # ------------------------------------------------------------------ building rows

    @api.model
    def _vpbx_rows(self, partner_id, company_id, region, numbers):
        """Rows (partner_id, company_id, key, field, rank) of one contact; a key appears once."""
        return key_rows(partner_id, company_id, region, numbers)

    # ------------------------------------------------------------------ lookup

    @api.model
    def _vpbx_find_partners(self, company_id, keys):
        """Active contacts of `company_id` (or shared) having one of `keys`: a list of
        ``(partner_id, score, is_company)``; score = rank of the key on the contact + its
        position in `keys` (0: both are today's reading of the number)."""
        return self._vpbx_find_partners_many(company_id, [list(keys)])[0]

    @api.model
    def _vpbx_find_partners_many(self, company_id, keys_list):
        """``_vpbx_find_partners`` of each key list of `keys_list` (the calls of a batch), in ONE
        index equality lookup (``key = ANY``) for all, list for list."""
        wanted = {key for keys in keys_list for key in keys}
        if not wanted:
            return [[] for _keys in keys_list]
        Partner = self.env["res.partner"]
        Partner.flush_model(["active", "is_company", "commercial_partner_id"])
        self.env.cr.execute(
            """
            SELECT k.key, k.partner_id, MIN(k.rank), p.is_company, p.commercial_partner_id
              FROM vpbx_partner_phone k
              JOIN res_partner p ON p.id = k.partner_id
             WHERE k.key = ANY(%(keys)s::varchar[])
               AND p.active
               AND (k.company_id IS NULL OR k.company_id = %(company)s)
          GROUP BY k.key, k.partner_id, p.is_company, p.commercial_partner_id
            """,
            {"keys": list(wanted), "company": company_id},
        )
        by_key, commercial = {}, {}
        for key, partner_id, rank, is_company, commercial_id in self.env.cr.fetchall():
            by_key.setdefault(key, []).append((partner_id, rank, bool(is_company)))
            commercial[partner_id] = commercial_id
        # the calls' lead lookup asks for their commercial entity: no second query for it
        self.env.cache.update(
            Partner.browse(commercial),
            Partner._fields["commercial_partner_id"],
            commercial.values(),
        )
        found = []
        for keys in keys_list:
            # a contact's best score over the call's keys
            scores = {}
            for position, key in enumerate(keys):
                for partner_id, rank, is_company in by_key.get(key, ()):
                    score = rank + position
                    if partner_id not in scores or score < scores[partner_id][0]:
                        scores[partner_id] = (score, is_company)
            found.append([(pid, score, company) for pid, (score, company) in scores.items()])
        return found

    def _vpbx_rows_of(self, batch):
        return rows_of_contacts(batch)
