"""The lead made from an unknown caller's number on a day: one row per (PBX account, number, day).

With *New leads from unknown callers* on, an inbound call from a number no contact and no open
lead has makes a lead, once per number and day however many calls arrive, and at the same
moment on several workers or servers. The row is upserted first, which locks it: as with
``vpbx.callback``, a concurrent transaction waits, then fails with a serialization error under
REPEATABLE READ and runs again in a new transaction, where the lead exists and the call links
to it (by the number keys, or through this row).
"""

import pytz

from odoo import api, fields, models

from ..const import CALLBACK_STATUSES
from ..services.hotline_sources import source_for
from ..services.phone import format_display

#: Lead creation settings of a PBX account
LEAD_CREATION = [
    ("never", "Never"),
    ("missed", "Missed inbound calls"),
    ("inbound", "Every inbound call"),
]


class VpbxLeadDay(models.Model):
    _name = "vpbx.lead.day"
    _description = "VPBX Lead of an Unknown Number on a Day"
    _rec_name = "number"
    _order = "day desc, id desc"
    _log_access = False  # written with one SQL upsert per call

    pbx_id = fields.Many2one(
        "vpbx.pbx", string="PBX Account", required=True, ondelete="cascade", readonly=True
    )
    number = fields.Char(string="Number", required=True, readonly=True)
    day = fields.Date(string="Day", required=True, readonly=True)
    lead_id = fields.Many2one("crm.lead", string="Lead", ondelete="set null", readonly=True)
    call_count = fields.Integer(string="Calls", readonly=True)

    _sql_constraints = [
        (
            "number_day_uniq",
            "unique(pbx_id, number, day)",
            "A number makes one lead per PBX account and day.",
        ),
    ]

    @api.model
    def _vpbx_wants_lead(self, call, settings):
        if call.direction != "inbound" or not call.customer_number_normalized:
            return False  # hidden or unreadable numbers make no lead
        if settings.lead_creation == "missed":
            return call.status in CALLBACK_STATUSES
        return settings.lead_creation == "inbound"

    @api.model
    def _vpbx_day(self, call, settings):
        """The call's day where the company is (the agent's time zone when known)."""
        tz_name = call.user_id.tz
        if not tz_name:
            zones = pytz.country_timezones.get(settings.region) or ["UTC"]
            tz_name = zones[0]
        moment = call.start_time or fields.Datetime.now()
        return pytz.utc.localize(moment).astimezone(pytz.timezone(tz_name)).date()

    @api.model
    def _vpbx_lead_for_unknown(self, call, settings):
        """Link `call` (an unknown caller's, ended) to the day's lead of its number, made now
        if it is the first; nothing when the account's setting does not ask for it."""
        if not self._vpbx_wants_lead(call, settings):
            return
        number = call.customer_number_normalized
        self.env.cr.execute(
            """
            INSERT INTO vpbx_lead_day AS d (pbx_id, number, day, call_count)
                 VALUES (%(pbx)s, %(number)s, %(day)s, 1)
            ON CONFLICT (pbx_id, number, day) DO UPDATE SET call_count = d.call_count + 1
              RETURNING id, lead_id
            """,
            {"pbx": settings.pbx_id, "number": number, "day": self._vpbx_day(call, settings)},
            # a serialization failure is expected under concurrency, and retried: not logged
            log_exceptions=False,
        )
        row_id, lead_id = self.env.cr.fetchone()
        lead = self.env["crm.lead"].sudo().browse(lead_id).exists()
        if not lead:
            lead = self._vpbx_create_lead(call, settings)
            self.env.cr.execute(
                "UPDATE vpbx_lead_day SET lead_id = %s WHERE id = %s", [lead.id, row_id]
            )
        if call.lead_id != lead:
            call.lead_id = lead

    @api.model
    def _vpbx_create_lead(self, call, settings):
        """The lead of an unknown caller: named from the number and carrying it; source and
        team from the hotline called; salesperson: the agent who answered, else the team's
        leader, else nobody."""
        source = source_for(settings.lead_sources, call.hotline, settings.region)
        label = format_display(call.customer_number, settings.region)
        user_id = call.user_id.id if call.status in ("answered", "in_progress") else False
        if not user_id and source:
            user_id = source.team_leader_id or False
        uses_leads = self.env.ref("crm.group_use_lead", raise_if_not_found=False)
        employees = self.env.ref("base.group_user")
        vals = {
            "name": self.env._("Call from %(number)s", number=label),
            "type": "lead" if uses_leads and uses_leads in employees.implied_ids else "opportunity",
            "phone": label,
            "contact_name": call.customer_name or False,
            "company_id": settings.company_id,
            "user_id": user_id,
            "team_id": (source and source.team_id) or False,
            "source_id": (source and source.source_id) or False,
        }
        return (
            self.env["crm.lead"]
            .sudo()
            .with_company(settings.company_id)
            .with_context(mail_auto_subscribe_no_notify=True, mail_create_nolog=True)
            .create(vals)
        )

    @api.autovacuum
    def _gc_vpbx_lead_days(self):
        """Rows of past days only serve a day that is over: keep a week."""
        self.env.cr.execute(
            "DELETE FROM vpbx_lead_day WHERE day < (now() AT TIME ZONE 'UTC')::date - 7"
        )
