"""The webhook route reads its body as sent: no form parsing before it."""

from werkzeug.datastructures import ImmutableMultiDict

from odoo import models
from odoo.http import request


class IrHttp(models.AbstractModel):
    _inherit = "ir.http"

    @classmethod
    def _pre_dispatch(cls, rule, args):
        if rule.endpoint.routing.get("vpbx_raw_body"):
            # Odoo parses a form body before the route is called: it would consume the body,
            # turn bytes that are not UTF-8 into U+FFFD (two call ids become one) and answer a
            # broken body itself. An empty form leaves the body to the route
            # (controllers/webhook.py), which decodes it strictly.
            request.httprequest.form = ImmutableMultiDict()
            request.httprequest.files = ImmutableMultiDict()
        super()._pre_dispatch(rule, args)
