# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
{
    "name": "SENTECH VPBX",
    "summary": "Connect Odoo to the SENTECH VPBX cloud PBX: extensions on employees, "
    "call log from webhooks, call history on contacts and leads, click-to-call, "
    "callers routed to their salesperson",
    "version": "18.0.3.0.0",
    "category": "Productivity/VoIP",
    "author": "SENTECH VPBX integration team",
    "website": "https://github.com/sentech-vpbx/sentech_vpbx",
    "license": "LGPL-3",
    "depends": ["hr", "contacts", "mail", "sales_team", "crm"],
    "external_dependencies": {"python": ["requests", "phonenumbers"]},
    "data": [
        "security/security.xml",
        "security/ir.model.access.csv",
        "security/security_rules.xml",
        "data/mail_activity_type_data.xml",
        "data/ir_cron_data.xml",
        "views/res_config_settings_views.xml",
        "views/menus.xml",
        "views/vpbx_pbx_views.xml",
        "views/vpbx_call_views.xml",
        "views/vpbx_webhook_event_views.xml",
        "views/vpbx_history_import_views.xml",
        "views/hr_employee_views.xml",
        "views/res_partner_views.xml",
        "views/crm_lead_views.xml",
        "views/vpbx_route_log_views.xml",
        "wizard/vpbx_provision_result_views.xml",
    ],
    "demo": [
        "demo/vpbx_pbx_demo.xml",
        "demo/res_partner_demo.xml",
        "demo/hr_employee_demo.xml",
        "demo/crm_lead_demo.xml",
    ],
    "assets": {
        "web.assets_backend": [
            "sentech_vpbx/static/src/live_call/*.js",
            "sentech_vpbx/static/src/live_call/*.xml",
            "sentech_vpbx/static/src/live_call/*.scss",
        ],
        "web.assets_tests": ["sentech_vpbx/static/tests/tours/*.js"],
    },
    "installable": True,
    "application": True,
}
