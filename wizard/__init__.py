from . import vpbx_provision_result
