"""POST /vpbx/webhook/<token>: call records pushed by the PBX.

The controller does three things: the token in the URL gives the PBX account (compared in
constant time), the body is read as sent (at most 1 MiB; forms too: Odoo's form parser is kept
off this route, see models/ir_http.py), and the outcome is answered. Everything in between,
storing the raw body and committing it before anything else, processing it or leaving it to
the queue, is ``vpbx.webhook.event._vpbx_receive``. Answers (always JSON): 403 unknown token
(nothing stored), 413 body over 1 MiB, 400 body that cannot be read, was broken off by the
sender (bad chunked encoding, fewer bytes than its Content-Length) or has no call id (stored as
rejected), 200 once stored, even if processing then fails (the event is then 'failed' and
retried by the cron), 503 only when Odoo failed (the database, say). Never a 5xx because of a
body.
"""

import contextlib
import logging
import re

from odoo import SUPERUSER_ID, http
from odoo.http import request

from ..services.errors import PayloadError
from ..services.i18n import _lt

_logger = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
READ_CHUNK = 64 * 1024
#: An announced body over MAX_BODY is read and dropped up to this size before the 413, so that
#: a sender still writing it reads the answer instead of a reset connection.
MAX_DRAIN = 16 * MAX_BODY
CUT_SHORT = _lt(
    "The body ended after %(received)s of the %(length)s bytes its Content-Length announced:"
    " the sender closed the connection or stopped sending"
)
BAD_CHUNKS = _lt(
    "The chunked body could not be read after %(received)s bytes (%(error)s): the sender's"
    " chunked encoding is broken or cut short"
)
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


class BodyTooLarge(Exception):
    """The body is over MAX_BODY."""


def _read_body(environ, limit):
    """``(body, PayloadError or None)``: the body as sent, and what broke its framing.

    Read from the WSGI input itself: werkzeug's streams raise on a short body and drop what
    arrived. Raises BodyTooLarge above `limit` bytes, whatever the Content-Length says.
    """
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):  # chunked: werkzeug's server decodes the chunks
        return _read_chunked(stream, limit)
    try:
        length = max(0, int(environ.get("CONTENT_LENGTH") or 0))
    except ValueError:  # werkzeug reads no body either
        length = 0
    if length > limit:
        _drain(stream, min(length, MAX_DRAIN))
        raise BodyTooLarge
    # read1: one socket read at a time, so that a reset loses nothing that came before it
    read = getattr(stream, "read1", stream.read)
    chunks, size = [], 0
    try:
        while size < length:
            chunk = read(min(READ_CHUNK, length - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError:  # reset or timed out: what arrived is kept
        pass
    body = b"".join(chunks)
    if size < length:
        return body, PayloadError(CUT_SHORT, received=size, length=length)
    return body, None


def _read_chunked(stream, limit):
    chunks, size = [], 0
    try:
        while size <= limit:
            chunk = stream.read(min(READ_CHUNK, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as error:  # werkzeug's "Invalid chunk header", a reset, a time-out
        return b"".join(chunks), PayloadError(BAD_CHUNKS, received=size, error=str(error))
    if size > limit:
        raise BodyTooLarge
    return b"".join(chunks), None


def _drain(stream, length):
    try:
        while length > 0:
            chunk = stream.read(min(READ_CHUNK, length))
            if not chunk:
                return
            length -= len(chunk)
    except OSError:
        return


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
        vpbx_raw_body=True,  # no form parsing before the route (models/ir_http.py)
    )
    def vpbx_webhook(self, token, **_params):
        try:
            return self._vpbx_webhook(token)
        except Exception:
            # the database or the server failed, not the body: ask the PBX to send it again
            _logger.exception("VPBX webhook: the delivery could not be stored")
            with contextlib.suppress(Exception):  # a failed statement aborts the transaction
                request.env.cr.rollback()
            return _answer(503, status="error", error="unavailable")

    def _vpbx_webhook(self, token):
        env = request.env(user=SUPERUSER_ID, su=True)
        pbx = env["vpbx.pbx"]._vpbx_from_webhook_token(token)
        if not pbx:
            return _answer(403, status="error", error="unknown_token")
        httprequest = request.httprequest
        # Odoo's request wrapper hides the WSGI input
        environ = httprequest._HTTPRequest__wrapped.environ
        try:
            body, unreadable = _read_body(environ, MAX_BODY)
        except BodyTooLarge:
            return _answer(413, status="error", error="payload_too_large", limit=MAX_BODY)
        if unreadable:
            # the sender's fault, not ours: no traceback (and never the body) in the log
            _logger.info(
                "VPBX webhook of account %s: body broken off by the sender (%s)", pbx.id, unreadable
            )
        event_id, state, error = env["vpbx.webhook.event"]._vpbx_receive(
            pbx,
            body,
            httprequest.headers.get("Content-Type") or "",
            httprequest.remote_addr,
            unreadable=unreadable,
        )
        if state == "rejected":
            return _answer(400, status="rejected", event_id=event_id, error=error)
        return _answer(200, status="ok", event_id=event_id, state=state)
