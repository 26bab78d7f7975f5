from odoo import fields, models

USER = "sentech_vpbx.group_vpbx_user"


class HrEmployee(models.Model):
    """Calls taken or made by the employee's extension (smart button)."""

    _inherit = "hr.employee"

    vpbx_call_count = fields.Integer(
        string="Calls", compute="_compute_vpbx_call_count", groups=USER
    )

    def _compute_vpbx_call_count(self):
        counts = dict(
            self.env["vpbx.call"]._read_group(
                [("employee_id", "in", self.ids)], ["employee_id"], ["__count"]
            )
        )
        for employee in self:
            employee.vpbx_call_count = counts.get(employee._origin, 0)

    def action_vpbx_open_calls(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("sentech_vpbx.action_vpbx_call")
        action["domain"] = [("employee_id", "=", self.id)]
        action["context"] = {"default_employee_id": self.id}
        action["display_name"] = self.env._("Calls of %(name)s", name=self.name)
        return action
