"""vpbx.phone.key (abstract): what the number indexes of contacts (``vpbx.partner.phone``) and of
leads (``vpbx.lead.phone``) share: the key columns, the batched replace of an owner's rows by
plain SQL, and the fill for records that existed before the module."""

import logging

from odoo import api, fields, models
from odoo.tools import SQL

_logger = logging.getLogger(__name__)

#: Rows per INSERT statement.
INSERT_CHUNK = 1000
#: Owners read per batch when the table is filled for existing records.
INIT_BATCH = 5000
#: Upper bound of ids when every owner is read.
MAX_ID = 2**31 - 1


class VpbxPhoneKey(models.AbstractModel):
    _name = "vpbx.phone.key"
    _description = "VPBX Phone Key"
    _log_access = False
    _rec_name = "key"

    #: Each index says: its owner column, the columns of a row (owner first), the query reading
    #: (id, numbers...) of owners after an id, and what it indexes (for the log).
    _vpbx_owner = None
    _vpbx_columns = ()
    _vpbx_numbers_query = None
    _vpbx_label = ""

    key = fields.Char(string="Key", required=True, index=True, help="E.164 form of the number.")
    field = fields.Selection(
        [("phone", "Phone"), ("mobile", "Mobile")], string="Field", required=True
    )
    rank = fields.Integer(
        string="Rank", help="0: today's reading of the number; 1: an older reading of it."
    )

    def _vpbx_rows_of(self, batch):
        """The rows of the owners of `batch` (rows of ``_vpbx_numbers_query``)."""
        raise NotImplementedError

    @api.model
    def _vpbx_replace(self, owner_ids, rows, delete=True):
        """Replace the rows of `owner_ids` by `rows` (plain SQL, batched)."""
        cr = self.env.cr
        table, owner = SQL.identifier(self._table), SQL.identifier(self._vpbx_owner)
        if delete and owner_ids:
            cr.execute(SQL("DELETE FROM %s WHERE %s = ANY(%s)", table, owner, list(owner_ids)))
        columns = SQL(", ").join(SQL.identifier(column) for column in self._vpbx_columns)
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start : start + INSERT_CHUNK]
            values = SQL(", ").join(SQL("(%s)", SQL(", ").join(row)) for row in chunk)
            cr.execute(SQL("INSERT INTO %s (%s) VALUES %s", table, columns, values))
        self.invalidate_model()

    def init(self):
        """Fill the table for records that existed before the module (install or empty table)."""
        if self._abstract:
            return
        cr = self.env.cr
        cr.execute(SQL("SELECT 1 FROM %s LIMIT 1", SQL.identifier(self._table)))
        if cr.fetchone():
            return
        self._vpbx_rebuild()

    @api.model
    def _vpbx_rebuild(self):
        """Recompute every key from the owners' numbers, in batches of INIT_BATCH owners."""
        cr = self.env.cr
        cr.execute(SQL("DELETE FROM %s", SQL.identifier(self._table)))
        last_id, total = 0, 0
        while True:
            cr.execute(self._vpbx_numbers_query, [last_id, MAX_ID, INIT_BATCH])
            batch = cr.fetchall()
            if not batch:
                break
            rows = self._vpbx_rows_of(batch)
            self._vpbx_replace([], rows, delete=False)
            total += len(rows)
            last_id = batch[-1][0]
        _logger.info("VPBX: %s phone keys indexed for existing %s", total, self._vpbx_label)
        return total
