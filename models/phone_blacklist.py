"""Do-not-call: Odoo's phone blacklist (``phone_validation``) read through the Vietnamese
renumbering.

``phone.blacklist`` keeps each number in E.164 as Odoo formats it. An entry from before the
renumbering (a 2018 mobile prefix, ``+84 168 345 6789``, or a pre-2017 area code) and today's
form of the same line must block each other, so every entry carries its number's current key
(``services.phone.normalize``: the old reading converted when the digits are not valid today)
and a number is blocked when its own current key is one of them. Only current keys are
compared: the old reading of a number that is valid today is another line (``038 345 6789``,
a mobile, is not the pre-2017 Nghệ An landline ``038 345 6789`` = ``0238 345 6789``).
"""

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..services.phone import format_display, normalize

#: Active entries' keys, as a subquery (``IN (...)``); never NULL, so that NOT IN works too.
BLOCKED_KEYS_SQL = "(SELECT vpbx_key FROM phone_blacklist WHERE active AND vpbx_key IS NOT NULL)"


class PhoneBlacklist(models.Model):
    _inherit = "phone.blacklist"

    vpbx_key = fields.Char(
        string="Number Key",
        compute="_compute_vpbx_key",
        store=True,
        index="btree_not_null",
        help="The number's current E.164 form: an entry written before the Vietnamese"
        " renumbering (0168 345 6789) has the key of today's number (038 345 6789).",
    )

    @api.depends("number")
    def _compute_vpbx_key(self):
        for entry in self:
            entry.vpbx_key = normalize(entry.number) or False

    @api.model
    def _vpbx_blocked_keys(self, keys):
        """The keys among `keys` (current E.164 keys) that an active entry blocks."""
        keys = list({key for key in keys if key})
        if not keys:
            return set()
        self.flush_model(["vpbx_key", "active"])
        self.env.cr.execute(
            "SELECT DISTINCT vpbx_key FROM phone_blacklist WHERE active AND vpbx_key = ANY(%s)",
            [keys],
        )
        return {row[0] for row in self.env.cr.fetchall()}

    @api.model
    def _vpbx_add_numbers(self, numbers, region, origin):
        """Put `numbers` (as written, read in `region`) on the do-not-call list; returns a
        notification. `origin` (text: the call, the contact) is named in the entries' chatter.

        The caller checked the user's right to the record the numbers come from: the list
        itself is for administrators, so it is written as superuser.
        """
        keys = list(dict.fromkeys(key for key in (normalize(n, region) for n in numbers) if key))
        if not keys:
            raise UserError(
                self.env._(
                    "There is no valid phone number on %(record)s to put on the do-not-call list.",
                    record=origin,
                )
            )
        shown = ", ".join(format_display(key, region) for key in keys)
        new = [key for key in keys if key not in self._vpbx_blocked_keys(keys)]
        if not new:
            return self.env["vpbx.pbx"]._vpbx_notify(
                self.env._("%(numbers)s is already on the do-not-call list.", numbers=shown),
                "info",
            )
        message = self.env._(
            "Put on the do-not-call list from %(record)s by %(user)s.",
            record=origin,
            user=self.env.user.name,
        )
        self.sudo()._add(new, message=message)
        return self.env["vpbx.pbx"]._vpbx_notify(
            self.env._("%(numbers)s will not be called from Odoo any more.", numbers=shown)
        )
