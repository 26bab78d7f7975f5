"""vpbx.call.outcome: what came of a call (interested, call back, wrong number, ...), a list the
managers keep. An agent records one on a call they took (the call form, the pop-up); the PBX's
tag sets it when it names one (``code``, or the name, compared without case or accents)."""

import unicodedata

from odoo import api, fields, models


def outcome_key(text):
    """`text` folded for matching a PBX tag: no case, no accents, single spaces."""
    text = unicodedata.normalize("NFKD", (text or "").replace("đ", "d").replace("Đ", "D"))
    text = "".join(char for char in text if not unicodedata.combining(char))
    return " ".join(text.casefold().split())


class VpbxCallOutcome(models.Model):
    _name = "vpbx.call.outcome"
    _description = "VPBX Call Outcome"
    _order = "sequence, id"

    name = fields.Char(string="Outcome", required=True, translate=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    color = fields.Integer(string="Color")
    code = fields.Char(
        string="PBX Tag",
        help="The tag an agent sets on the PBX's side for this outcome (any case, with or"
        " without accents); the outcome's name matches too.",
    )
    schedules_callback = fields.Boolean(
        string="Schedules a Call Back",
        help="Recording this outcome schedules a 'Call back' activity for the agent.",
    )
    callback_days = fields.Integer(
        string="Call Back After (days)", default=1, help="The activity's deadline, in days."
    )

    _sql_constraints = [
        ("callback_days_positive", "CHECK(callback_days >= 0)", "Days cannot be negative."),
    ]

    @api.model
    def _vpbx_from_tag(self, tag):
        """The active outcome a PBX tag names (``code`` first, then the name in any of the
        installed languages), else an empty recordset. A tag may list several, comma-separated:
        the first one that names an outcome wins."""
        wanted = [outcome_key(part) for part in (tag or "").split(",")]
        wanted = [key for key in wanted if key]
        if not wanted:
            return self.browse()
        outcomes = self.sudo().search([])
        by_key = {}
        for outcome in outcomes:
            for text in [outcome.code, *self._vpbx_names(outcome)]:
                by_key.setdefault(outcome_key(text), outcome)
        by_key.pop("", None)
        for key in wanted:
            if key in by_key:
                return by_key[key].with_env(self.env)
        return self.browse()

    @api.model
    def _vpbx_names(self, outcome):
        langs = [code for code, _name in self.env["res.lang"].get_installed()]
        return [outcome.with_context(lang=lang).name for lang in langs]
