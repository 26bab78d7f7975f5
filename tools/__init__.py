"""Developer tools shipped with the addon (the VPBX simulator); not loaded by Odoo."""
