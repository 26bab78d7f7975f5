"""What colleagues may see of an employee's extension, on both hr.employee and its public twin.

Fields declared on ``hr.employee.base`` are columns of ``hr_employee`` and of the
``hr.employee.public`` view alike: the account and the extension, like the work phone, are no
secret; the password is (``hr.employee.vpbx_password``), and ``vpbx_softphone_password`` shows
it to the employee's own user and to VPBX managers only. The Call buttons are here too: non-HR
users open employees through the public form and call from there. (``hr.employee`` adds
tracking to these fields: the public view is no mail thread.)
"""

from odoo import api, fields, models

from ..const import GROUP_MANAGER


class HrEmployeeBase(models.AbstractModel):
    _inherit = "hr.employee.base"

    vpbx_pbx_id = fields.Many2one(
        "vpbx.pbx",
        string="PBX Account",
        compute="_compute_vpbx_pbx_id",
        store=True,
        readonly=False,
        index="btree_not_null",
        ondelete="set null",
        help="The PBX account (tenant) the extension belongs to: extension 101 on two accounts"
        " is two people. Default: the company's first account.",
    )
    vpbx_domain = fields.Char(string="VPBX Domain", copy=False)
    vpbx_extension = fields.Char(
        string="VPBX Extension",
        copy=False,
        index="btree_not_null",
        help="The extension's user name on the PBX, e.g. 101. Unique per PBX account.",
    )
    vpbx_softphone_password = fields.Char(
        string="Softphone Password",
        compute="_compute_vpbx_softphone_password",
        help="The extension password, shown to the employee's own user and to VPBX managers.",
    )

    @api.depends("company_id", "vpbx_extension")
    def _compute_vpbx_pbx_id(self):
        defaults = {}
        for employee in self:
            company = employee.company_id
            if employee.vpbx_pbx_id.company_id == company or not employee.vpbx_extension:
                continue
            if company.id not in defaults:
                defaults[company.id] = (
                    self.env["vpbx.pbx"].sudo().search([("company_id", "=", company.id)], limit=1)
                )
            employee.vpbx_pbx_id = defaults[company.id]

    @api.depends_context("uid")
    @api.depends("user_id")
    def _compute_vpbx_softphone_password(self):
        is_manager = self.env.user.has_group(GROUP_MANAGER)
        for employee in self:
            employee_sudo = self.env["hr.employee"].sudo().browse(employee.id)
            allowed = is_manager or (
                employee_sudo.user_id and employee_sudo.user_id == self.env.user
            )
            employee.vpbx_softphone_password = employee_sudo.vpbx_password if allowed else False

    # ------------------------------------------------------------------ click-to-call

    def _vpbx_click2call_field(self, fname):
        self.ensure_one()
        return self.env["vpbx.click2call"]._vpbx_click2call(self[fname], company=self.company_id)

    def action_vpbx_call_work_phone(self):
        return self._vpbx_click2call_field("work_phone")

    def action_vpbx_call_mobile_phone(self):
        return self._vpbx_click2call_field("mobile_phone")
