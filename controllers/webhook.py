"""POST /vpbx/webhook/<token>: call records pushed by the PBX.

The controller does three things: the token in the URL gives the PBX account (compared in
constant time), the body is read (at most 1 MiB), and the outcome is answered. Everything in
between, storing the raw body and committing it before anything else, processing it or leaving
it to the queue, is ``vpbx.webhook.event._vpbx_receive``. Answers (always JSON): 403 unknown
token (nothing stored), 413 body over 1 MiB, 400 body that cannot be read or has no call id
(stored as rejected), 200 once stored, even if processing then fails (the event is then
'failed' and retried by the cron). Never a 500 because of a body.
"""

import logging
import re
from urllib.parse import urlencode

from werkzeug.exceptions import RequestEntityTooLarge

from odoo import SUPERUSER_ID, http
from odoo.http import request

_logger = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
FORM_MIMETYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
READ_CHUNK = 64 * 1024
WEBHOOK_TOKEN_RE = re.compile(r"(/vpbx/webhook/)[^\s/?#\"]+")


class HideWebhookToken(logging.Filter):
    """Odoo's access log (the ``werkzeug`` logger) shows ``/vpbx/webhook/***``: the token in the
    URL is the PBX account's webhook secret."""

    def filter(self, record):
        if isinstance(record.args, tuple) and any(
            isinstance(arg, str) and "/vpbx/webhook/" in arg for arg in record.args
        ):
            record.args = tuple(
                WEBHOOK_TOKEN_RE.sub(r"\1***", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        elif isinstance(record.msg, str) and "/vpbx/webhook/" in record.msg:
            record.msg = WEBHOOK_TOKEN_RE.sub(r"\1***", record.msg)
        return True


_access_logger = logging.getLogger("werkzeug")
if not any(type(f).__name__ == "HideWebhookToken" for f in _access_logger.filters):
    _access_logger.addFilter(HideWebhookToken())


def _read_body(httprequest, limit):
    """At most `limit` bytes of the body, whatever the Content-Length says (chunked bodies too).

    Odoo's HTTPRequest wrapper does not expose werkzeug's ``stream``, and ``get_data()`` reads a
    chunked body to its end, however long.
    """
    wrapped = getattr(httprequest, "_HTTPRequest__wrapped", None)
    if wrapped is None:
        return httprequest.get_data()[:limit]
    stream = wrapped.stream
    chunks, size = [], 0
    while size < limit:
        chunk = stream.read(min(READ_CHUNK, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _answer(http_status, **data):
    return request.make_json_response(data, status=http_status)


class VpbxWebhookController(http.Controller):
    @http.route(
        "/vpbx/webhook/<string:token>",
        type="http",
        auth="none",
        methods=["POST"],
        csrf=False,
        save_session=False,
        readonly=False,  # auth="none" routes default to a read-only cursor
        # also caps the form parser, which reads form bodies before this method runs
        max_content_length=MAX_BODY,
    )
    def vpbx_webhook(self, token, **_params):
        try:
            return self._vpbx_webhook(token)
        except RequestEntityTooLarge:
            return _answer(413, status="error", error="payload_too_large", limit=MAX_BODY)
        except Exception:
            # the database or the server failed, not the body: ask the PBX to send it again
            _logger.exception("VPBX webhook: the delivery could not be stored")
            return _answer(503, status="error", error="unavailable")

    def _vpbx_webhook(self, token):
        env = request.env(user=SUPERUSER_ID, su=True)
        pbx = env["vpbx.pbx"]._vpbx_from_webhook_token(token)
        if not pbx:
            return _answer(403, status="error", error="unknown_token")
        body, content_type = self._vpbx_body(request.httprequest)
        if body is None:
            return _answer(413, status="error", error="payload_too_large", limit=MAX_BODY)
        event_id, state, error = env["vpbx.webhook.event"]._vpbx_receive(
            pbx, body, content_type, request.httprequest.remote_addr
        )
        if state == "rejected":
            return _answer(400, status="rejected", event_id=event_id, error=error)
        return _answer(200, status="ok", event_id=event_id, state=state)

    @staticmethod
    def _vpbx_body(httprequest):
        """``(bytes, content type)`` of the request, or ``(None, None)`` above MAX_BODY."""
        length = httprequest.content_length
        if length is not None and length > MAX_BODY:
            return None, None
        if httprequest.mimetype in FORM_MIMETYPES:
            # werkzeug parsed (and consumed) the form before the route was called
            body = urlencode(list(httprequest.form.items(multi=True))).encode()
            return body, "application/x-www-form-urlencoded"
        body = _read_body(httprequest, MAX_BODY + 1)
        if len(body) > MAX_BODY:
            return None, None
        return body, httprequest.headers.get("Content-Type") or ""
