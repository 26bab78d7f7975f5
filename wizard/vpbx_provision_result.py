from odoo import api, fields, models


class VpbxProvisionResult(models.TransientModel):
    """Summary of a bulk provisioning: who got an extension, who did not, and why."""

    _name = "vpbx.provision.result"
    _description = "VPBX Provisioning Result"

    line_ids = fields.One2many("vpbx.provision.result.line", "result_id", string="Employees")
    summary = fields.Char(compute="_compute_summary")
    failed_count = fields.Integer(compute="_compute_summary")

    @api.depends("line_ids.status")
    def _compute_summary(self):
        for result in self:
            counts = {"done": 0, "skipped": 0, "failed": 0}
            for line in result.line_ids:
                counts[line.status] += 1
            result.failed_count = counts["failed"]
            result.summary = self.env._(
                "%(done)s provisioned, %(failed)s failed, %(skipped)s skipped.", **counts
            )

    def _action_open(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("VPBX Provisioning"),
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
        }


class VpbxProvisionResultLine(models.TransientModel):
    _name = "vpbx.provision.result.line"
    _description = "VPBX Provisioning Result Line"
    # created failures first (see hr.employee.action_vpbx_invite_bulk)
    _order = "id"

    result_id = fields.Many2one("vpbx.provision.result", required=True, ondelete="cascade")
    employee_id = fields.Many2one("hr.employee", string="Employee", required=True)
    status = fields.Selection(
        [("failed", "Failed"), ("done", "Provisioned"), ("skipped", "Skipped")],
        required=True,
    )
    message = fields.Text()
