from . import vpbx_call_outcome_wizard, vpbx_provision_result
