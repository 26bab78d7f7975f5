"""Completing a click-to-call: the PBX record finds the call created in the ``calling`` state.

The PBX record carries the call's id (``transaction_id``, else ``call_uuid``). When no call has
that id yet, the company's pending click-to-call with the same call_uuid is re-keyed to it; if
the PBX uses an id of its own, the pending call of the same extension and number started within
the company's match window is. The normal upsert then updates that row.
"""

from datetime import timedelta

from odoo import api, fields, models

from ..services.phone import phone_keys


class VpbxCall(models.Model):
    _inherit = "vpbx.call"

    vpbx_click2call = fields.Boolean(
        string="Click-to-Call",
        readonly=True,
        copy=False,
        help="Started from Odoo with a Call button.",
    )

    def init(self):
        super().init()
        # every delivery asks whether its company has a pending click-to-call
        self.env.cr.execute(
            "CREATE INDEX IF NOT EXISTS vpbx_call_pending_click2call_index"
            " ON vpbx_call (company_id) WHERE vpbx_click2call AND is_final IS NOT TRUE"
        )

    @api.model
    def _vpbx_lock_call(self, company, record):
        """The call's row, after giving `record`'s call id to its pending click-to-call.

        When a call with that id exists already (its live event beat the click-to-call's own
        row), the pending row is merged into it instead. The same query that locks the call's
        row tells whether the company has any pending click-to-call at all: most deliveries
        have none, and skip the searches.
        """
        self.flush_model(["vpbx_call_id", "company_id", "vpbx_click2call", "is_final"])
        self.env.cr.execute(
            """
            WITH locked AS (
                SELECT id, vpbx_click2call FROM vpbx_call
                 WHERE company_id = %(company)s AND vpbx_call_id = %(call)s
                   FOR NO KEY UPDATE
            )
            SELECT locked.id, locked.vpbx_click2call,
                   EXISTS(SELECT 1 FROM vpbx_call p
                           WHERE p.company_id = %(company)s AND p.vpbx_click2call
                             AND p.is_final IS NOT TRUE)
              FROM (VALUES (1)) AS one LEFT JOIN locked ON TRUE
            """,
            {"company": company.id, "call": record.call_id},
        )
        call_id, is_click2call, any_pending = self.env.cr.fetchone()
        if not any_pending:
            return call_id
        if call_id:
            if not is_click2call and record.direction != "inbound":
                self._vpbx_merge_click2call(company, record, self.browse(call_id))
            return call_id
        pending = self._vpbx_find_click2call(company, record)
        if not pending:
            return None
        pending.write({"vpbx_call_id": record.call_id})
        return super()._vpbx_lock_call(company, record)

    @api.model
    def _vpbx_merge_click2call(self, company, record, call):
        """Move who called and whom from a pending click-to-call onto `call`, drop the former."""
        ids = list({value for value in (record.call_id, record.call_uuid) if value})
        pending = self.search(
            [
                ("company_id", "=", company.id),
                ("vpbx_click2call", "=", True),
                ("status", "=", "calling"),
                ("call_uuid", "in", ids),
                ("id", "!=", call.id),
            ],
            limit=1,
        )
        if not pending:
            return
        vals = {"vpbx_click2call": True}
        for fname in ("partner_id", "employee_id", "user_id"):
            if pending[fname] and not call[fname]:
                vals[fname] = pending[fname].id
        call.write(vals)
        pending.unlink()

    @api.model
    def _vpbx_find_click2call(self, company, record):
        base = [
            ("company_id", "=", company.id),
            ("vpbx_click2call", "=", True),
            ("is_final", "=", False),
        ]
        ids = list({value for value in (record.call_id, record.call_uuid) if value})
        call = self.search([*base, ("call_uuid", "in", ids)], order="id desc", limit=1)
        if call:
            return call
        minutes = company._vpbx_call_settings().click2call_match_minutes
        if (
            record.direction == "inbound"
            or not record.extension
            or not record.customer_number
            or minutes <= 0
        ):
            return call
        keys = phone_keys(record.customer_number, company._vpbx_number_region())
        if not keys:
            return call
        moment = record.start_time or fields.Datetime.now()
        window = timedelta(minutes=minutes)
        candidates = self.search(
            [
                *base,
                ("status", "=", "calling"),
                ("extension", "=", record.extension),
                ("start_time", ">=", moment - window),
                ("start_time", "<=", moment + window),
                "|",
                ("customer_number_normalized", "in", keys),
                ("customer_number_alt_key", "in", keys),
            ]
        )
        # the one started closest to the PBX's start time
        return min(candidates, key=lambda c: abs(c.start_time - moment), default=call)

    def action_vpbx_call_back(self):
        """Call the customer of this call again from the user's own extension."""
        self.ensure_one()
        return self.env["vpbx.click2call"]._vpbx_click2call(
            self.customer_number, company=self.company_id, partner=self.partner_id or None
        )
