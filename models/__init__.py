from . import (
    hr_employee,
    hr_employee_base,
    res_company,
    res_config_settings,
    res_partner,
    vpbx_call,
    vpbx_click2call,
    vpbx_history_import,
    vpbx_partner_phone,
    vpbx_pbx,
    vpbx_sync_state,
    vpbx_webhook_event,
)
