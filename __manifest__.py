# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
{
    "name": "SENTECH VPBX",
    "summary": "Connect Odoo to the SENTECH VPBX cloud PBX: extensions on employees, "
    "call log from webhooks, call history on contacts, click-to-call",
    "version": "18.0.1.0.0",
    "category": "Productivity/VoIP",
    "author": "SENTECH VPBX integration team",
    "website": "https://github.com/sentech-vpbx/sentech_vpbx",
    "license": "LGPL-3",
    "depends": ["hr", "contacts", "mail", "phone_validation"],
    "external_dependencies": {"python": ["requests", "phonenumbers"]},
    "data": [
        "security/security.xml",
        "security/ir.model.access.csv",
        "views/res_config_settings_views.xml",
        "views/menus.xml",
        "views/hr_employee_views.xml",
        "views/res_config_settings_provisioning_views.xml",
        "wizard/vpbx_provision_result_views.xml",
    ],
    "demo": [
        "demo/res_partner_demo.xml",
    ],
    "assets": {},
    "installable": True,
    "application": True,
}
