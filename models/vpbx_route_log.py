"""Every answer to the PBX's routing requests: who called, what was answered, and why.

Written by plain INSERTs (no ORM, no access log): many answers at once, a moment later, on the
connection routing keeps (``batched_rows``), or one per answer on the request's cursor. Read by
VPBX managers; the autovacuum keeps ROUTE_LOG_DAYS days.
"""

from odoo import api, fields, models

#: Days of routing answers kept
ROUTE_LOG_DAYS = 30
#: Longest caller or hotline text kept (the PBX's text, whatever it sent)
MAX_TEXT = 64
#: One answer's row, on the request's cursor (``_vpbx_log``: the test runner, or the kept
#: connection failed)
LOG_INSERT = """
INSERT INTO vpbx_route_log
       (date, pbx_id, company_id, caller, hotline, extensions, reason, user_id, duration_ms)
VALUES (now() AT TIME ZONE 'UTC', %(pbx)s, %(company)s, %(caller)s, %(hotline)s,
        %(extensions)s, %(reason)s, %(user)s, %(ms)s)
"""
#: The rows of many answers (``log_values`` and their ``date``) as one JSON array, prepared on
#: the connection ``vpbx.route`` keeps (``batched_rows``)
LOG_INSERT_MANY = """
INSERT INTO vpbx_route_log
       (date, pbx_id, company_id, caller, hotline, extensions, reason, user_id, duration_ms)
SELECT r.date, r.pbx, r.company, r.caller, r.hotline, r.extensions, r.reason, r.user, r.ms
  FROM json_to_recordset(%(rows)s::json) AS r(
           date timestamp, pbx int4, company int4, caller varchar, hotline varchar,
           extensions varchar, reason varchar, "user" int4, ms numeric)
"""


def log_values(pbx_id, company_id, caller, hotline, extensions, reason, user_id, ms):
    """The LOG_INSERT values of an answer."""
    return {
        "pbx": pbx_id,
        "company": company_id,
        "caller": (caller or "")[:MAX_TEXT] or None,
        "hotline": (hotline or "")[:MAX_TEXT] or None,
        "extensions": extensions or None,
        "reason": reason,
        "user": user_id,
        "ms": round(ms, 1),
    }


class VpbxRouteLog(models.Model):
    _name = "vpbx.route.log"
    _description = "VPBX Routing Answer"
    _order = "date desc, id desc"
    _rec_name = "caller"
    _log_access = False

    date = fields.Datetime(string="Date", required=True, readonly=True, index=True)
    pbx_id = fields.Many2one(
        "vpbx.pbx", string="PBX Account", ondelete="cascade", index="btree_not_null", readonly=True
    )
    company_id = fields.Many2one("res.company", string="Company", readonly=True)
    caller = fields.Char(string="Caller", readonly=True, help="The number as the PBX sent it.")
    hotline = fields.Char(string="Hotline", readonly=True)
    extensions = fields.Char(
        string="Answer", readonly=True, help="The extensions answered, joined by ':'."
    )
    reason = fields.Selection(
        [
            ("owner", "The caller's salesperson"),
            ("owner_team", "The salesperson and their sales team"),
            ("team", "The salesperson's team (the salesperson has no extension)"),
            ("no_owner", "Nobody owns this number"),
            ("no_extension", "The salesperson has no extension on this PBX account"),
            ("no_number", "No caller number"),
            ("bad_number", "Not a phone number"),
            ("bad_token", "Unknown routing URL"),
            ("bad_key", "Wrong or missing API key"),
            ("disabled", "Routing is off on this PBX account"),
            ("error", "Error"),
        ],
        string="Reason",
        readonly=True,
    )
    user_id = fields.Many2one("res.users", string="Salesperson", ondelete="set null", readonly=True)
    duration_ms = fields.Float(string="Time (ms)", readonly=True, digits=(16, 1))

    @api.model
    def _vpbx_log(self, values):
        """One INSERT of `values` (``log_values``), in the same round trip as two settings of
        the request's transaction: no time-out of the lookup any more, and a commit that does
        not wait for the disk (a log row lost in a crash is no loss; the PBX waits for every
        answer)."""
        self.env.cr.execute(
            "SET LOCAL statement_timeout TO DEFAULT;\n"
            "SET LOCAL synchronous_commit TO OFF;\n" + LOG_INSERT,
            values,
        )

    @api.autovacuum
    def _gc_vpbx_route_logs(self):
        self.env.cr.execute(
            "DELETE FROM vpbx_route_log WHERE date < (now() AT TIME ZONE 'UTC') - %s::interval",
            [f"{ROUTE_LOG_DAYS} days"],
        )
