from odoo import fields, models


class VpbxEmployeeClick2callMixin(models.AbstractModel):
    """Call buttons of an employee's work phone and mobile.

    Shared by hr.employee and hr.employee.public: non-HR users open employees through the
    public form, and must be able to call from there too.
    """

    _name = "vpbx.employee.click2call.mixin"
    _description = "VPBX: click-to-call from an employee"

    def _vpbx_click2call_field(self, fname):
        self.ensure_one()
        return self.env["vpbx.click2call"]._vpbx_click2call(self[fname], company=self.company_id)

    def action_vpbx_call_work_phone(self):
        return self._vpbx_click2call_field("work_phone")

    def action_vpbx_call_mobile_phone(self):
        return self._vpbx_click2call_field("mobile_phone")


class HrEmployee(models.Model):
    """Click-to-call from an employee's work phone or mobile, and their own caller ID."""

    _name = "hr.employee"
    _inherit = ["hr.employee", "vpbx.employee.click2call.mixin"]

    # not on hr.employee.public: colleagues do not need it, so it carries groups
    vpbx_hotline = fields.Char(
        string="VPBX Hotline",
        groups="hr.group_hr_user",
        help="Outbound number (caller ID) of this employee's click-to-calls; empty: the"
        " company's hotline.",
    )


class HrEmployeePublic(models.Model):
    _name = "hr.employee.public"
    _inherit = ["hr.employee.public", "vpbx.employee.click2call.mixin"]
