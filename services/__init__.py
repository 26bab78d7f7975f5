"""Plain Python services of sentech_vpbx: no Odoo import here.

Models call these; these never call the ORM, so they can be tested and benchmarked alone.
"""
