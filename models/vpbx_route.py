"""Ring-time routing: the extensions of the salesperson who owns a caller (OmiCall's
routing-criteria callback, ``controllers/route.py``).

The owner, by one rule: the salesperson of the caller's open opportunity, else of an open lead
carrying the number, else of the contact having the number; among several, the most recently
updated opportunity or lead, and the contact by the call-matching rule (today's reading of the
number first, then the oldest contact). Their extension on the requesting PBX account comes
first, then (setting) the other members of their sales team: the opportunity's team, else the
salesperson's first team.

One SQL statement through the number-key indexes of contacts and leads, under a statement
time-out; any doubt or error is an empty answer, and every answer is logged. The statement is
prepared on a connection the process keeps (``route_lookup``): planning it was most of an
answer's cost. The log's rows are written on that connection a moment later, many in one
INSERT (``batched_rows``): one INSERT per answer cost as much as the lookup under load.
"""

import logging
import secrets
import time

from odoo import api, models

from ..services.routing import STATEMENT_TIMEOUT_MS, caller_keys, join_extensions, reason_of
from .batched_rows import BatchedRows
from .route_lookup import KeptStatements
from .vpbx_lead_phone import OPEN_LEAD
from .vpbx_route_log import LOG_INSERT_MANY, log_values

_logger = logging.getLogger(__name__)

ROUTE_QUERY = f"""
WITH p AS (
    SELECT k.partner_id AS id,
           MIN(k.rank + array_position(%(keys)s::varchar[], k.key) - 1) AS score
      FROM vpbx_partner_phone k
      JOIN res_partner rp ON rp.id = k.partner_id AND rp.active
     WHERE k.key = ANY(%(keys)s::varchar[])
       AND (k.company_id IS NULL OR k.company_id = %(company)s)
  GROUP BY k.partner_id
),
lead_ids AS (
    SELECT lk.lead_id AS id FROM vpbx_lead_phone lk WHERE lk.key = ANY(%(keys)s::varchar[])
     UNION
    SELECT o.id FROM crm_lead o WHERE o.partner_id IN (SELECT id FROM p) AND o.type = 'opportunity'
),
owners AS (
    SELECT CASE WHEN l.type = 'opportunity' THEN 0 ELSE 1 END AS src, 0 AS score,
           l.user_id, l.team_id, l.write_date AS ts, -l.id AS tie
      FROM lead_ids x
      JOIN crm_lead l ON l.id = x.id
 LEFT JOIN crm_stage s ON s.id = l.stage_id
     WHERE {OPEN_LEAD} AND l.user_id IS NOT NULL
       AND (l.company_id IS NULL OR l.company_id = %(company)s)
 UNION ALL
    SELECT 2, p.score, rp.user_id, NULL, NULL, rp.id
      FROM p JOIN res_partner rp ON rp.id = p.id
     WHERE rp.user_id IS NOT NULL
),
owner AS (
    SELECT * FROM owners ORDER BY src, score, ts DESC NULLS LAST, tie LIMIT 1
)
SELECT o.user_id,
       (SELECT e.vpbx_extension FROM hr_employee e
         WHERE e.user_id = o.user_id AND e.vpbx_pbx_id = %(pbx)s AND e.active
           AND e.vpbx_extension IS NOT NULL
      ORDER BY e.id LIMIT 1),
       CASE WHEN %(team)s THEN ARRAY(
           SELECT e.vpbx_extension FROM crm_team_member m
             JOIN hr_employee e ON e.user_id = m.user_id AND e.vpbx_pbx_id = %(pbx)s
                               AND e.active AND e.vpbx_extension IS NOT NULL
            WHERE m.active AND m.user_id != o.user_id
              AND m.crm_team_id = COALESCE(o.team_id, (
                      SELECT t.crm_team_id FROM crm_team_member t
                       WHERE t.user_id = o.user_id AND t.active
                    ORDER BY t.create_date, t.id LIMIT 1))
         ORDER BY m.id, e.id LIMIT 10)
       ELSE ARRAY[]::varchar[] END
  FROM owner o
"""
ROUTE_ARGS = ("keys", "company", "pbx", "team")

#: The lookup and the log, prepared once per process and database, plans kept
KEPT = KeptStatements(
    {
        "vpbx_route_lookup": (ROUTE_QUERY, ROUTE_ARGS),
        "vpbx_route_log_many": (LOG_INSERT_MANY, ("rows",)),
    },
    settings=(
        # one plan for all callers: the lookup goes through the same indexes for any number
        "SET plan_cache_mode = force_generic_plan",
        f"SET statement_timeout = {int(STATEMENT_TIMEOUT_MS)}",
        # a log row lost in a crash is no loss; the PBX waits for every answer
        "SET synchronous_commit = off",
    ),
)
#: The answers' log rows, written a moment later, many at once
LOG_ROWS = BatchedRows(KEPT, "vpbx_route_log_many", LOG_INSERT_MANY)


class VpbxRoute(models.AbstractModel):
    _name = "vpbx.route"
    _description = "VPBX Ring-Time Routing"

    @api.model
    def _vpbx_answer(self, token, caller, hotline, api_key):
        """The text/plain body answered to the PBX ('' when the PBX should route by itself).

        Never raises: an error is an empty answer (logged as such)."""
        start = time.perf_counter()
        pbx_id = company_id = user_id = None
        extensions, reason = "", "error"
        Pbx = self.env["vpbx.pbx"].sudo()
        try:
            pbx = Pbx._vpbx_from_webhook_token(token)
            if not pbx:
                reason = "bad_token"
            else:
                settings = pbx._vpbx_route_settings()
                pbx_id, company_id = settings.pbx_id, settings.company_id
                user_id, extensions, reason = self._vpbx_route(settings, caller, api_key)
        except Exception:
            _logger.exception("VPBX routing request failed")
            self.env.cr.rollback()
            user_id, extensions, reason = None, "", "error"
        ms = (time.perf_counter() - start) * 1000
        try:
            values = log_values(
                pbx_id, company_id, caller, hotline, extensions, reason, user_id, ms
            )
            if not LOG_ROWS.add(self.env, values):
                self.env["vpbx.route.log"]._vpbx_log(values)
        except Exception:
            _logger.exception("VPBX routing answer could not be logged")
            self.env.cr.rollback()
        return extensions

    @api.model
    def _vpbx_route(self, settings, caller, api_key):
        """``(owner user id, extensions, reason)`` for `caller` on the account of `settings`."""
        if settings.api_key and not secrets.compare_digest(
            (api_key or "").encode(), settings.api_key.encode()
        ):
            return None, "", "bad_key"
        if not settings.enabled:
            return None, "", "disabled"
        if not caller or not caller.strip():
            return None, "", "no_number"
        keys = caller_keys(caller, settings.region)
        if not keys:
            return None, "", "bad_number"
        args = {
            "keys": list(keys),
            "company": settings.company_id,
            "pbx": settings.pbx_id,
            "team": settings.team_members,
        }
        rows = KEPT.run(self.env, "vpbx_route_lookup", args)
        if rows is None:  # the request's cursor (see route_lookup)
            cr = self.env.cr
            # one round trip: the time-out, then the lookup (the log's INSERT resets the time-out)
            cr.execute(
                f"SET LOCAL statement_timeout = {int(STATEMENT_TIMEOUT_MS)};\n{ROUTE_QUERY}", args
            )
            rows = cr.fetchall()
        if not rows:
            return None, "", reason_of(None, (), has_owner=False)
        user_id, own, team = rows[0]
        extensions = join_extensions([own, *(team or [])])
        return user_id, extensions, reason_of(own, team or (), has_owner=True)
