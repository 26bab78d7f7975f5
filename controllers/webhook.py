"""POST /vpbx/webhook/<token>: call records pushed by the PBX.

The token in the URL identifies the company (compared in constant time). The body is stored raw
as a vpbx.webhook.event and COMMITTED before anything else; only then is it processed. Answers
(always JSON): 403 unknown token (nothing stored), 413 body over 1 MiB, 400 body that cannot be
read or has no call id (stored as rejected), 200 once stored, even if processing then fails (the
event is then 'failed' and retried by the cron). Never a 500 because of a body.

With the company's "Queue webhook deliveries" on, the body is only checked (400 when it cannot
be read) and the event stays 'new' for the queue's scheduled action, woken by the delivery: the
answer comes after one INSERT and one commit.
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
    URL is the company's webhook secret."""

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
        company = env["res.company"]._vpbx_company_from_webhook_token(token)
        if not company:
            return _answer(403, status="error", error="unknown_token")
        httprequest = request.httprequest
        length = httprequest.content_length
        if length is not None and length > MAX_BODY:
            return _answer(413, status="error", error="payload_too_large", limit=MAX_BODY)
        content_type = httprequest.headers.get("Content-Type") or ""
        if httprequest.mimetype in FORM_MIMETYPES:
            # werkzeug parsed (and consumed) the form before the route was called
            body = urlencode(list(httprequest.form.items(multi=True))).encode()
            content_type = "application/x-www-form-urlencoded"
        else:
            body = _read_body(httprequest, MAX_BODY + 1)
            if len(body) > MAX_BODY:
                return _answer(413, status="error", error="payload_too_large", limit=MAX_BODY)

        event = env["vpbx.webhook.event"]._vpbx_store(
            company, body, content_type, httprequest.remote_addr
        )
        event_id, state, error = event.id, event.state, event.error
        if state == "new" and company._vpbx_call_settings().webhook_queued:
            # answered once stored; the queue's scheduled action stores the calls
            state, error = event._vpbx_enqueue()[event_id]
            env.cr.commit()
        else:
            env.cr.commit()  # stored: from here on the delivery is never lost
            if state == "new":
                state, error = event._vpbx_process(commit=True)[event_id]
        if state == "rejected":
            return _answer(400, status="rejected", event_id=event_id, error=error)
        return _answer(200, status="ok", event_id=event_id, state=state)
