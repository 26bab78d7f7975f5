import dataclasses

from odoo import api, fields, models, tools

from ..services.call_record import CallMapping

_DEFAULT = CallMapping()


@dataclasses.dataclass(frozen=True)
class CallSettings:
    """What storing a call record reads of its company, cached per worker (see below)."""

    mapping: CallMapping
    region: str
    post_call_note: bool
    click2call_match_minutes: int
    webhook_queued: bool


#: A write to one of these (on the company) empties the cache of CallSettings.
CALL_SETTING_FIELDS = frozenset(
    {
        "vpbx_answered_dispositions",
        "vpbx_missed_dispositions",
        "vpbx_live_states",
        "vpbx_post_call_note",
        "vpbx_click2call_match_minutes",
        "vpbx_webhook_queued",
        "country_id",
        "partner_id",
    }
)


class ResCompany(models.Model):
    """How PBX call payloads map to statuses, and what happens when a call ends."""

    _inherit = "res.company"

    vpbx_answered_dispositions = fields.Char(
        string="VPBX Answered Dispositions",
        default=",".join(_DEFAULT.answered_dispositions),
        help="Comma-separated dispositions that mean the call was answered.",
    )
    vpbx_missed_dispositions = fields.Char(
        string="VPBX Missed Dispositions",
        default=",".join(_DEFAULT.missed_dispositions),
        help="Comma-separated dispositions that mean the call was not answered.",
    )
    vpbx_live_states = fields.Char(
        string="VPBX Live States",
        default=",".join(_DEFAULT.live_states),
        help="Comma-separated values of 'state' that mark a live event (the call goes on); any"
        " other state, or none, is a finished call.",
    )
    vpbx_post_call_note = fields.Boolean(
        string="VPBX Call Note on Contact",
        default=True,
        help="Post a short note on the contact's chatter when a call ends.",
    )
    vpbx_webhook_queued = fields.Boolean(
        string="VPBX Queue Webhook Deliveries",
        help="Answer the PBX as soon as a delivery is stored, and store its calls a moment later"
        " in the background (a scheduled action that the deliveries wake up). For high call"
        " volumes; needs Odoo's scheduled actions to run. Off: each delivery is processed before"
        " the answer.",
    )
    vpbx_missed_call_user_id = fields.Many2one(
        "res.users",
        string="VPBX Missed Call Fallback User",
        help="Gets the 'Call back' activity of a missed inbound call when no agent is known.",
    )

    def write(self, vals):
        result = super().write(vals)
        if not CALL_SETTING_FIELDS.isdisjoint(vals):
            self.env.registry.clear_cache()  # every worker drops its CallSettings
        return result

    def _vpbx_call_settings(self):
        """This company's CallSettings.

        Every webhook delivery needs them; reading the company (and its partner, for the
        country) through the ORM costs two wide queries, so they are kept in Odoo's ormcache,
        emptied in every worker when a setting changes (``write`` above, and ``res.partner``
        for the country of a company's partner).
        """
        self.ensure_one()
        return self._vpbx_call_settings_cached(self.id)

    @api.model
    @tools.ormcache("company_id")
    def _vpbx_call_settings_cached(self, company_id):
        company = self.sudo().browse(company_id)
        return CallSettings(
            mapping=CallMapping.from_settings(
                answered=company.vpbx_answered_dispositions,
                missed=company.vpbx_missed_dispositions,
                live_states=company.vpbx_live_states,
            ),
            region=company.country_id.code or "VN",
            post_call_note=company.vpbx_post_call_note,
            click2call_match_minutes=company.vpbx_click2call_match_minutes,
            webhook_queued=company.vpbx_webhook_queued,
        )

    def _vpbx_call_mapping(self):
        """The CallMapping of this company's settings (empty settings mean the defaults)."""
        return self._vpbx_call_settings().mapping

    def _vpbx_number_region(self):
        """Region of the numbers the PBX sends: the company's country, else Vietnam."""
        return self._vpbx_call_settings().region
