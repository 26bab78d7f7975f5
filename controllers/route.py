"""GET /vpbx/route/<token>: the PBX asks, while the phone rings, which extensions to ring.

OmiCall's routing-criteria callback: ``?phoneNumber=<caller>&sipNumber=<hotline>``, the key set
on the PBX's side in ``X-API-KEY``; it waits about 2 s for a ``text/plain`` answer, extensions
joined by ':'. The answer is always 200: the owner's extensions, or an empty body (unknown
token, wrong key, no or bad number, nobody found, any error) so that the PBX routes by its own
rules. What is answered and why is ``vpbx.route._vpbx_answer`` (logged in ``vpbx.route.log``).
"""

import contextlib
import logging
import re

from odoo import SUPERUSER_ID, http
from odoo.http import request

_logger = logging.getLogger(__name__)

ROUTE_TOKEN_RE = re.compile(r"(/vpbx/route/)[^\s/?#\"]+")
HEADERS = [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")]


class HideRouteToken(logging.Filter):
    """Odoo's access log shows ``/vpbx/route/***``: the token is the account's secret."""

    def filter(self, record):
        if isinstance(record.args, tuple) and any(
            isinstance(arg, str) and "/vpbx/route/" in arg for arg in record.args
        ):
            record.args = tuple(
                ROUTE_TOKEN_RE.sub(r"\1***", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


_access_logger = logging.getLogger("werkzeug")
if not any(type(f).__name__ == "HideRouteToken" for f in _access_logger.filters):
    _access_logger.addFilter(HideRouteToken())


def _first(args, name):
    value = args.get(name)
    return value if isinstance(value, str) else None


class VpbxRouteController(http.Controller):
    @http.route(
        "/vpbx/route/<string:token>",
        type="http",
        auth="none",
        methods=["GET"],
        csrf=False,
        save_session=False,
        readonly=False,  # every answer is logged
    )
    def vpbx_route(self, token, **_params):
        body = ""
        try:
            args = request.httprequest.args
            env = request.env(user=SUPERUSER_ID, su=True)
            body = env["vpbx.route"]._vpbx_answer(
                token,
                _first(args, "phoneNumber"),
                _first(args, "sipNumber"),
                request.httprequest.headers.get("X-API-KEY"),
            )
        except Exception:  # never a 500: the PBX falls back to its own rules
            _logger.exception("VPBX routing: no answer")
            with contextlib.suppress(Exception):
                request.env.cr.rollback()
            body = ""
        return request.make_response(body, headers=HEADERS)
