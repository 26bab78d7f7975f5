from odoo import api, fields, models

from ..const import ACTION_CALLS, GROUP_USER
from ..services.partner_keys import DEFAULT_REGION
from ..services.phone import normalize
from .vpbx_partner_phone import KEY_FIELDS

#: A write touching one of these rewrites the contact's phone keys (the country gives the region
#: of numbers written without +; active and company decide who may match).
KEY_TRIGGERS = frozenset(KEY_FIELDS) | {"company_id", "country_id", "active"}
#: Calls listed on the contact form.
LATEST_CALLS = 10


class ResPartner(models.Model):
    """Calls of a contact, its numbers' keys for the lookup, and Call buttons."""

    _inherit = "res.partner"

    vpbx_call_count = fields.Integer(
        string="Calls", compute="_compute_vpbx_call_count", groups=GROUP_USER
    )
    vpbx_latest_call_ids = fields.Many2many(
        "vpbx.call",
        string="Latest Calls",
        compute="_compute_vpbx_latest_call_ids",
        groups=GROUP_USER,
    )

    vpbx_do_not_call = fields.Boolean(
        string="Do Not Call",
        compute="_compute_vpbx_do_not_call",
        groups=GROUP_USER,
        help="A phone number of this contact is on the do-not-call list (Odoo's phone"
        " blacklist, old and new Vietnamese numbers alike).",
    )

    def _vpbx_call_domain(self):
        """Calls of this contact and of its child contacts."""
        self.ensure_one()
        return [("partner_id", "child_of", self.id)]

    def _compute_vpbx_call_count(self):
        Call = self.env["vpbx.call"]
        for partner in self:
            partner.vpbx_call_count = (
                Call.search_count(partner._vpbx_call_domain()) if partner.id else 0
            )

    def _compute_vpbx_latest_call_ids(self):
        Call = self.env["vpbx.call"]
        for partner in self:
            partner.vpbx_latest_call_ids = (
                Call.search(partner._vpbx_call_domain(), limit=LATEST_CALLS) if partner.id else Call
            )

    def action_vpbx_open_calls(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(ACTION_CALLS)
        action["domain"] = self._vpbx_call_domain()
        action["context"] = {"default_partner_id": self.id}
        action["display_name"] = self.env._("Calls of %(name)s", name=self.display_name)
        return action

    def _vpbx_click2call_field(self, fname):
        self.ensure_one()
        company = self.company_id if self.company_id in self.env.user.company_ids else None
        return self.env["vpbx.click2call"]._vpbx_click2call(
            self[fname],
            company=company,
            partner=self,
            region=self.country_id.code or None,
        )

    # ------------------------------------------------------------------ do-not-call

    def _vpbx_region(self):
        self.ensure_one()
        return self.country_id.code or self.company_id.country_id.code or DEFAULT_REGION

    def _vpbx_current_keys(self):
        """Today's E.164 keys of the contact's phone and mobile."""
        self.ensure_one()
        region = self._vpbx_region()
        keys = (normalize(self.phone, region), normalize(self.mobile, region))
        return [key for key in keys if key]

    @api.depends("phone", "mobile", "country_id", "company_id")
    def _compute_vpbx_do_not_call(self):
        keys = {partner: partner._vpbx_current_keys() for partner in self}
        blocked = self.env["phone.blacklist"]._vpbx_blocked_keys(
            [key for partner_keys in keys.values() for key in partner_keys]
        )
        for partner in self:
            partner.vpbx_do_not_call = not blocked.isdisjoint(keys[partner])

    def action_vpbx_add_do_not_call(self):
        """Put the phone and mobile of this contact on the do-not-call list (one click)."""
        self.ensure_one()
        self.env["vpbx.click2call"]._vpbx_check_access()
        self.check_access("read")
        return self.env["phone.blacklist"]._vpbx_add_numbers(
            [self.phone, self.mobile],
            self._vpbx_region(),
            self.env._("the contact %(name)s", name=self.display_name),
        )

    def action_vpbx_call_phone(self):
        return self._vpbx_click2call_field("phone")

    def action_vpbx_call_mobile(self):
        return self._vpbx_click2call_field("mobile")

    # ------------------------------------------------------------------ phone keys

    @api.model_create_multi
    def create(self, vals_list):
        partners = super().create(vals_list)
        with_numbers = partners.filtered(lambda p: p.phone or p.mobile)
        if with_numbers:
            with_numbers._vpbx_update_phone_keys(new=True)
        return partners

    def write(self, vals):
        result = super().write(vals)
        if not KEY_TRIGGERS.isdisjoint(vals):
            self._vpbx_update_phone_keys()
        Company = self.env["res.company"].sudo().with_context(active_test=False)
        if "country_id" in vals and Company.search_count([("partner_id", "in", self.ids)], limit=1):
            # a company's country is its partner's: the region of its accounts' numbers changed
            self.env.registry.clear_cache()
        return result

    def _vpbx_update_phone_keys(self, new=False):
        """Rewrite the phone keys of these contacts, then link earlier unlinked calls to them.

        Region of a number: the contact's country, else its company's country, else Vietnam.
        """
        Phone = self.env["vpbx.partner.phone"].sudo()
        rows = []
        for partner in self:
            region = partner.country_id.code or partner.company_id.country_id.code or DEFAULT_REGION
            rows += Phone._vpbx_rows(
                partner.id,
                partner.company_id.id or None,
                region,
                [(fname, partner[fname]) for fname in KEY_FIELDS],
            )
        Phone._vpbx_replace(self.ids, rows, delete=not new)
        keys = list({row[2] for row in rows})
        if keys:
            self.env["vpbx.call"].sudo()._vpbx_relink_unlinked(keys)
