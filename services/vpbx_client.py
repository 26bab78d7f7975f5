"""HTTP client of the SENTECH VPBX (OmiCall-compatible) API. Plain Python, no Odoo import.

See docs/pbx-api.md, "Conventions": envelope ``status_code == 9999`` is success; errors carry a
code in ``payload.error``; the API key is exchanged for a token that the PBX gives no expiry for.
"""

import copy
import errno
import logging
import re
import threading
import time
from urllib.parse import urlsplit

import requests

from .errors import TOKEN_CODES, VpbxError, error_from_envelope

_logger = logging.getLogger(__name__)

DEFAULT_PATHS = {
    "auth": "/api/auth",
    "agent_invite": "/api/agent/invite",
    "agent_list": "/api/agent/list",
    "internal_phone_list": "/api/call_center/internal_phone/list",
    "click2call": "/api/click2call",
    "history_v2": "/api/v2/callTransaction/search",
    "history_v3": "/api/v3/call-transaction/search",
    "webhook_list": "/api/webhooks/list",
    "webhook_register": "/api/webhooks/register",
    "webhook_destroy": "/api/webhooks/destroy",
}
AUTH_MODES = ("bearer", "api_key", "both")
HISTORY_MAX_SIZE = 50
SUCCESS = 9999
# Never wait longer than this between two attempts, whatever Retry-After says.
MAX_RETRY_WAIT = 10.0

_APIKEY_RE = re.compile(r"(apiKey=)[^&\s'\"]+", re.IGNORECASE)


def redact(text, *secrets):
    """Text with ``apiKey=...`` query values and the given secret strings masked."""
    text = _APIKEY_RE.sub(r"\1***", str(text))
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


class _RedactApiKey(logging.Filter):
    """urllib3 logs request URLs at DEBUG level; the auth call carries the key in its query."""

    def filter(self, record):
        args = record.args
        if isinstance(args, tuple) and any("apiKey=" in str(a) for a in args):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in args)
        if isinstance(record.msg, str) and "apiKey=" in record.msg:
            record.msg = redact(record.msg)
        return True


_URLLIB3_LOGGER = logging.getLogger("urllib3.connectionpool")
if not any(isinstance(f, _RedactApiKey) for f in _URLLIB3_LOGGER.filters):
    _URLLIB3_LOGGER.addFilter(_RedactApiKey())


class TokenStore:
    """Where the access token lives. This default keeps it in memory for one process.

    The Odoo layer supplies a store on the PBX account's row (``vpbx.pbx``) whose ``refresh``
    re-reads the row under a lock, so that several workers do not all fetch a token at once.
    """

    def __init__(self, token=None, expires_at=None):
        self._token = token
        self._expires_at = expires_at
        self._lock = threading.Lock()

    def get(self):
        return self._token, self._expires_at

    def refresh(self, fetch, stale_token=None):
        """Return a usable token, calling ``fetch()`` only if what is held is no good.

        ``stale_token`` is the token the caller found too old or saw refused: when another
        thread already replaced it, the new one is returned without fetching.
        """
        with self._lock:
            token, expires_at = self._token, self._expires_at
            if (
                not token
                or (expires_at is not None and expires_at <= time.time())
                or token == stale_token
            ):
                token, expires_at = fetch()
                self._token, self._expires_at = token, expires_at
            return token, expires_at

    def clear(self):
        with self._lock:
            self._token = self._expires_at = None


class TokenNeeded(Exception):
    """A lent client's token is no good any more (expired, refused): it cannot fetch one.
    ``token``: that token, for the lender's ``renew_token``."""

    def __init__(self, token):
        super().__init__("the lent token needs renewing")
        self.token = token


class LentToken(TokenStore):
    """The token of a client lent to another thread (``VpbxClient.lent``): held, never refreshed
    there, because the account's own store reads and writes the account through the lending
    thread's database cursor."""

    def refresh(self, fetch, stale_token=None):
        raise TokenNeeded(stale_token)


class VpbxClient:
    """One client per PBX account configuration; holds one ``requests.Session``."""

    def __init__(
        self,
        base_url,
        api_key,
        *,
        auth_mode="bearer",
        timeout=10.0,
        paths=None,
        token_store=None,
        token_lifetime=23 * 3600,
        refresh_margin=300,
        session=None,
        max_retries=2,
        backoff=0.5,
        logger=None,
    ):
        if not base_url or not api_key:
            raise VpbxError("not_configured")
        if auth_mode not in AUTH_MODES:
            raise ValueError(f"auth_mode must be one of {AUTH_MODES}, not {auth_mode!r}")
        self.base_url = self.validate_base_url(base_url)
        self.api_key = api_key
        self.auth_mode = auth_mode
        # (connect, read); one number serves both and is passed as is (Odoo's test harness
        # compares the time-out with a number)
        if isinstance(timeout, tuple | list):
            self.timeout = (float(timeout[0]), float(timeout[1]))
            self.read_timeout = self.timeout[1]
        else:
            self.timeout = self.read_timeout = float(timeout)
        self.paths = dict(DEFAULT_PATHS)
        for key, value in (paths or {}).items():
            path = (value or "").strip()
            if path:
                self.paths[key] = path if path.startswith("/") else "/" + path
        self.token_store = token_store if token_store is not None else TokenStore()
        self.token_lifetime = token_lifetime
        self.refresh_margin = refresh_margin
        self.session = session or requests.Session()
        self.max_retries = max(0, int(max_retries))
        self.backoff = backoff
        self.logger = logger or _logger
        # indirection so that tests can watch the waits
        self._sleep = time.sleep

    def lent(self):
        """A copy of this client for another thread: an HTTP session of its own and this
        client's current token (fetched now, in the calling thread, if needed). The copy raises
        TokenNeeded where this client would refresh the token; the caller then asks again with
        this client, in its own thread. Close it with ``close()``."""
        token, expires_at = None, None
        if self.auth_mode in ("bearer", "both"):
            token = self.get_token()
            held, expires_at = self.token_store.get()
            if held != token:  # a token of this request only (the store was busy): no expiry known
                expires_at = None
        other = copy.copy(self)
        other.token_store = LentToken(token, expires_at)
        other.session = requests.Session()
        return other

    def close(self):
        self.session.close()

    def renew_token(self, stale_token):
        """A new token in place of `stale_token` (one a lent client found refused or too old),
        unless the store already holds another one."""
        return self.token_store.refresh(self.fetch_token, stale_token=stale_token)[0]

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def validate_base_url(url):
        """Return the URL without trailing '/', or raise VpbxError('invalid_url')."""
        text = (url or "").strip()
        host = None
        try:
            parts = urlsplit(text)
            if parts.scheme in ("http", "https") and not parts.query and not parts.fragment:
                parts.port  # noqa: B018 -- raises ValueError on a bad port
                host = parts.hostname
        except ValueError:
            host = None
        if not host or "@" in text.split("//", 1)[-1].split("/", 1)[0]:
            raise VpbxError("invalid_url", params={"url": redact(text) or "''"})
        return text.rstrip("/")

    def _secrets(self):
        token, _exp = self.token_store.get()
        return (self.api_key, token)

    def _log_error(self, method, path, err, attempt=None):
        # INFO: the error is raised to the caller, which decides whether it is an incident
        extra = f", retry {attempt}/{self.max_retries}" if attempt is not None else ""
        self.logger.info(
            "VPBX %s %s failed: %s (HTTP %s)%s",
            method,
            path,
            err.code,
            err.http_status,
            extra,
        )

    # ------------------------------------------------------------------ token
    def fetch_token(self):
        """Exchange the API key for an access token; the PBX gives no expiry, so assume one."""
        payload = self.request(
            "GET", "auth", params={"apiKey": self.api_key}, auth=False, idempotent=True
        )
        token = payload.get("access_token") if isinstance(payload, dict) else None
        if not token or not isinstance(token, str):
            raise VpbxError(
                "unexpected_response", params={"detail": "no access_token in the auth reply"}
            )
        return token, time.time() + self.token_lifetime

    def get_token(self):
        token, expires_at = self.token_store.get()
        if token and (expires_at is None or expires_at - self.refresh_margin > time.time()):
            return token
        # pass the old token as stale so a shared store refreshes it even if not yet expired
        token, _exp = self.token_store.refresh(self.fetch_token, stale_token=token)
        return token

    def _auth_headers(self):
        headers = {}
        token = None
        if self.auth_mode in ("bearer", "both"):
            token = self.get_token()
            headers["Authorization"] = f"Bearer {token}"
        if self.auth_mode in ("api_key", "both"):
            headers["X-API-KEY"] = self.api_key
        return headers, token

    # ------------------------------------------------------------------ core
    def request(
        self, method, path_key, *, params=None, json=None, idempotent=None, raw=False, auth=True
    ):
        """Call an endpoint; return ``envelope['payload']`` (the envelope if ``raw``).

        Raises VpbxError. Idempotent calls are retried on connection errors, 5xx and rate
        limits; a refused token is refreshed once and the call repeated once.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "OPTIONS")
        path = self.paths.get(path_key) or path_key
        url = self.base_url + path
        attempt = 0
        token_refreshed = False
        while True:
            token = None
            headers = {"Accept": "application/json"}
            if auth:
                auth_headers, token = self._auth_headers()
                headers.update(auth_headers)
            try:
                data = self._send(method, url, path, params, json, headers)
            except VpbxError as err:
                if (
                    auth
                    and token
                    and not token_refreshed
                    and (err.http_status == 401 or err.code in TOKEN_CODES)
                ):
                    token_refreshed = True
                    self.logger.info("VPBX %s %s: token refused, refreshing it", method, path)
                    self.token_store.refresh(self.fetch_token, stale_token=token)
                    continue
                wait = self._retry_wait(err, attempt) if idempotent else None
                if wait is None:
                    self._log_error(method, path, err)
                    raise
                attempt += 1
                self._log_error(method, path, err, attempt)
                self._sleep(wait)
                continue
            return data if raw else data.get("payload")

    def _retry_wait(self, err, attempt):
        """Seconds to wait before the next attempt, or None to give up."""
        if attempt >= self.max_retries:
            return None
        # a time-out is not retried: the user already waited the whole time-out
        if err.code == "timeout" or not (
            err.code in ("connection_refused", "unreachable", "rate_limit_exceeded")
            or (err.http_status or 0) >= 500
        ):
            return None
        wait = self.backoff * (2**attempt)
        if err.code == "rate_limit_exceeded" and err.retry_after is not None:
            wait = max(wait, err.retry_after)
        return min(wait, MAX_RETRY_WAIT)

    def _send(self, method, url, path, params, json, headers):
        """One HTTP exchange; returns the decoded success envelope or raises VpbxError."""
        started = time.monotonic()
        try:
            resp = self.session.request(
                method, url, params=params, json=json, headers=headers, timeout=self.timeout
            )
        except requests.exceptions.Timeout as exc:
            connect = isinstance(exc, requests.exceptions.ConnectTimeout)
            seconds = self.timeout[0] if connect and isinstance(self.timeout, tuple) else None
            seconds = seconds if seconds is not None else self.read_timeout
            raise VpbxError(
                "timeout",
                params={"url": self.base_url, "seconds": _fmt_seconds(seconds), "path": path},
            ) from None
        except requests.exceptions.RequestException as exc:
            if _is_refused(exc):
                raise VpbxError("connection_refused", params={"url": self.base_url}) from None
            raise VpbxError(
                "unreachable",
                params={"url": self.base_url, "reason": _reason(exc, self._secrets())},
            ) from None
        self.logger.debug(
            "VPBX %s %s -> HTTP %s in %.0f ms",
            method,
            path,
            resp.status_code,
            (time.monotonic() - started) * 1000,
        )
        return self._decode(resp)

    def _decode(self, resp):
        status = resp.status_code
        try:
            data = resp.json()
        except ValueError:
            data = None
        if data is None and status != 204:
            raise VpbxError("invalid_json", params={"status": status}, http_status=status)
        if not isinstance(data, dict):
            raise VpbxError(
                "unexpected_response",
                params={"detail": f"HTTP {status}, {type(data).__name__} instead of an envelope"},
                http_status=status,
            )
        if status < 400 and data.get("status_code") == SUCCESS:
            return data
        err = error_from_envelope(data, status)
        if status >= 400 and (
            err.code == "unexpected_response" or (status >= 500 and not err.is_pbx_code)
        ):
            # a gateway or framework error page in JSON: the HTTP status says more
            err = VpbxError("http_error", params={"status": status}, http_status=status, raw=data)
        if err.code == "rate_limit_exceeded" or status == 429:
            retry_after = _retry_after(resp.headers.get("Retry-After"))
            if err.code != "rate_limit_exceeded":
                err = VpbxError("rate_limit_exceeded", http_status=status, raw=data)
            err.retryable = True
            err.retry_after = retry_after
        raise err

    # ------------------------------------------------------------------ endpoints
    def test_connection(self):
        """Fetch a token (when the auth mode uses one) and make one cheap call."""
        started = time.monotonic()
        if self.auth_mode in ("bearer", "both"):
            self.get_token()
        envelope = self.list_agents(size=1, raw=True)
        payload = envelope.get("payload")
        total = payload.get("total_items") if isinstance(payload, dict) else None
        return {
            "base_url": self.base_url,
            "auth_mode": self.auth_mode,
            "instance_id": envelope.get("instance_id"),
            "instance_version": envelope.get("instance_version"),
            "agents": total,
            "elapsed_ms": round((time.monotonic() - started) * 1000),
        }

    def invite_agent(self, body):
        """Create an agent; returns the whole envelope because credentials may sit at its root."""
        return self.request("POST", "agent_invite", json=body, raw=True, idempotent=False)

    def list_agents(self, keyword=None, page=1, size=50, raw=False):
        return self.request("GET", "agent_list", params=_page_params(keyword, page, size), raw=raw)

    def list_internal_phones(self, keyword=None, page=1, size=50):
        return self.request("GET", "internal_phone_list", params=_page_params(keyword, page, size))

    def click2call(self, extension, hotline, phone_number):
        body = {
            "extension": str(extension or ""),
            "hotline": str(hotline or ""),
            "phone_number": str(phone_number or ""),
        }
        return self.request("POST", "click2call", json=body, idempotent=False)

    def search_history(self, from_ms, to_ms, page=1, size=50, version="v2", **filters):
        """One page of call history. ``filters``: directions, sipUsers, sipNumbers,
        phoneNumbers, transactionIds (None values are left out)."""
        if version not in ("v2", "v3"):
            raise ValueError(f"history version must be 'v2' or 'v3', not {version!r}")
        criteria = {"fromDate": int(from_ms), "toDate": int(to_ms)}
        criteria.update({k: v for k, v in filters.items() if v is not None})
        if version == "v2":
            body = criteria
        else:
            body = {"filter": criteria, "sort": {"field": "time_start_call", "isAsc": False}}
        params = {"page": max(1, int(page)), "size": max(1, min(int(size), HISTORY_MAX_SIZE))}
        # a POST that only reads: safe to retry
        return self.request("POST", f"history_{version}", params=params, json=body, idempotent=True)

    def list_webhooks(self):
        payload = self.request("GET", "webhook_list")
        if isinstance(payload, dict):
            payload = payload.get("items", [payload] if payload else [])
        return list(payload or [])

    def register_webhook(self, url, hook_type="call", events=None, wrapped=True):
        hook = {"type": hook_type, "url": url, "events": events}
        body = {"webhook": hook} if wrapped else hook
        return self.request("POST", "webhook_register", json=body, idempotent=False)

    def destroy_webhook(self, hook_type="call"):
        return self.request(
            "POST", "webhook_destroy", params={"hook_type": hook_type}, idempotent=False
        )


# ---------------------------------------------------------------------- module helpers
def _page_params(keyword, page, size):
    params = {"page": max(1, int(page)), "size": max(1, int(size))}
    if keyword:
        params["keyword"] = keyword
    return params


def _fmt_seconds(value):
    return f"{value:g}"


def _retry_after(value):
    """Seconds from a Retry-After header (delta-seconds only; HTTP dates are ignored)."""
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return None


def _is_refused(exc):
    """True when the exception chain holds a refused TCP connection."""
    seen = set()
    stack = [exc]
    while stack:
        cur = stack.pop()
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, ConnectionRefusedError) or getattr(cur, "errno", None) in (
            errno.ECONNREFUSED,
        ):
            return True
        stack.extend([cur.__cause__, cur.__context__, getattr(cur, "reason", None)])
        stack.extend(a for a in getattr(cur, "args", ()) if isinstance(a, BaseException))
    return "connection refused" in str(exc).lower()


def _reason(exc, secrets):
    """A short, secret-free description of a connection failure."""
    seen = set()
    stack = [exc]
    while stack:
        cur = stack.pop()
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, ConnectionResetError | ConnectionAbortedError) or (
            type(cur).__name__ == "RemoteDisconnected"
        ):
            return "the connection was closed without an answer"
        if type(cur).__name__ in ("NameResolutionError", "gaierror"):
            return "host name not found"
        stack.extend([cur.__cause__, cur.__context__, getattr(cur, "reason", None)])
        stack.extend(a for a in getattr(cur, "args", ()) if isinstance(a, BaseException))
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS/SSL error"
    return redact(type(exc).__name__, *secrets)
