"""Record Outcome: the call form's (and the calls list's) way to say what came of a call."""

from odoo import fields, models


class VpbxCallOutcomeWizard(models.TransientModel):
    _name = "vpbx.call.outcome.wizard"
    _description = "VPBX: Record a Call Outcome"

    call_ids = fields.Many2many("vpbx.call", string="Calls", required=True)
    outcome_id = fields.Many2one("vpbx.call.outcome", string="Outcome", required=True)
    note = fields.Text(string="Note")

    def action_apply(self):
        self.ensure_one()
        # the calls' own rules: the user's calls only (a manager's: any of their companies)
        self.call_ids.with_env(self.env).vpbx_set_outcome(self.outcome_id.id, self.note)
        return {"type": "ir.actions.act_window_close"}
