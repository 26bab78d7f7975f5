"""Errors of the VPBX API and their user-facing messages (plain Python, no Odoo import).

Every message is an English template marked with ``_lt`` so that Odoo's .pot extractor collects
it; the Odoo layer translates it later, e.g. ``error.render(env._)``.
"""

import re

from .i18n import _lt

# Codes the PBX itself sends (docs/pbx-api.md, "Conventions", plus the agent invite codes).
PBX_MESSAGES = {
    "api_key_is_required": _lt("API key is required: enter the API key of your VPBX account"),
    "api_key_invalid": _lt("API key invalid"),
    "auth_invalid": _lt(
        "VPBX refused the authentication: check the API key and the authentication mode"
    ),
    "tenant_disabled": _lt("Your VPBX account is disabled"),
    "individual_package_expired": _lt("Your VPBX subscription package has expired"),
    "token_expired": _lt("The VPBX access token has expired"),
    "data_is_required": _lt("VPBX rejected the request: required data is missing"),
    "tenant_invalid": _lt("The VPBX account (tenant) is invalid"),
    "user_not_registered": _lt(
        "Your softphone is not logged in: the extension is not registered on any phone"
    ),
    "number_call_out_invalid": _lt("This number cannot be called out through VPBX"),
    "extension_invalid": _lt("The extension does not exist on VPBX"),
    "user_busy": _lt("The extension is busy on another call"),
    "do_not_call": _lt("This number is on the do-not-call list"),
    "balance_is_not_enough": _lt("Your VPBX balance is not enough to make this call"),
    "invalid_phone_number": _lt("The phone number is invalid"),
    "resource_not_found": _lt("VPBX could not find what was asked for"),
    "permission_denied": _lt("The VPBX API key is not allowed to do this"),
    "rate_limit_exceeded": _lt("Too many requests to VPBX: please try again in a moment"),
    # agent invite
    "full_name_is_required": _lt("A full name is required to create the VPBX agent"),
    "identify_info_invalid": _lt("The e-mail address is not valid for VPBX"),
    "password_invalid": _lt(
        "The password must have at least 8 characters, with upper and lower case letters, "
        "a digit and a special character"
    ),
    "role_is_required": _lt("A role is required to create the VPBX agent"),
    "agent_exists": _lt("An agent with this e-mail address already exists on VPBX"),
    "limit_agent": _lt("Your VPBX account has reached its maximum number of agents"),
    "invite_error": _lt("VPBX could not create the agent"),
}

# Codes raised by this client, not by the PBX: rendered without the " (code)" suffix.
LOCAL_MESSAGES = {
    "not_configured": _lt("VPBX is not configured: enter the base URL and the API key"),
    "invalid_url": _lt(
        "Invalid VPBX URL %(url)s: it must start with http:// or https:// and name a host"
    ),
    "connection_refused": _lt("Cannot reach VPBX at %(url)s: connection refused"),
    "unreachable": _lt("Cannot reach VPBX at %(url)s: %(reason)s"),
    "timeout": _lt("VPBX at %(url)s did not answer within %(seconds)s seconds"),
    "http_error": _lt("VPBX replied with HTTP %(status)s"),
    "invalid_json": _lt("VPBX replied with HTTP %(status)s and a body that is not JSON"),
    "unexpected_response": _lt("VPBX sent an unexpected response: %(detail)s"),
    "unknown_error": _lt("VPBX error: %(message)s"),
}

ERROR_MESSAGES = {**PBX_MESSAGES, **LOCAL_MESSAGES}
LOCAL_CODES = frozenset(LOCAL_MESSAGES)
# Worth trying again later (a cron, the user): the PBX or the network may recover.
RETRYABLE_CODES = frozenset({"connection_refused", "unreachable", "timeout", "rate_limit_exceeded"})
# Codes that mean "get a new token" (docs/pbx-api.md, "Conventions").
TOKEN_CODES = frozenset({"token_expired"})

# A PBX code is snake_case with at least one "_"; anything else in a "message" is free text.
_CODE_RE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")
_SECRET_KEYS = frozenset(
    {
        "apikey",
        "api_key",
        "x-api-key",
        "access_token",
        "token",
        "password",
        "sip_password",
        "secret",
        "authorization",
    }
)
_MAX_TEXT = 300


def sanitize(data, _depth=0):
    """Copy of decoded JSON with secret-looking keys masked, safe to keep on an error or log."""
    if _depth > 10:
        return "..."
    if isinstance(data, dict):
        return {
            k: "***" if str(k).lower() in _SECRET_KEYS and v else sanitize(v, _depth + 1)
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [sanitize(v, _depth + 1) for v in data[:50]]
    return data


def _text(value):
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "..."


class _Params(dict):
    """Format parameters where a missing one shows as '?' instead of raising."""

    def __missing__(self, key):
        return "?"


class VpbxError(Exception):
    """An error talking to VPBX, carrying a translatable template and its parameters."""

    def __init__(
        self, code, template=None, params=None, *, http_status=None, raw=None, retryable=None
    ):
        self.code = code or "unknown_error"
        self.template = template or ERROR_MESSAGES.get(self.code) or LOCAL_MESSAGES["unknown_error"]
        self.params = dict(params or {})
        if "%(message)s" in self.template and "message" not in self.params:
            self.params["message"] = self.code
        self.http_status = http_status
        self.raw = sanitize(raw) if raw is not None else None
        if retryable is None:
            retryable = self.code in RETRYABLE_CODES or bool(http_status and http_status >= 500)
        self.retryable = retryable
        # Seconds the PBX asked us to wait (Retry-After), when it said so.
        self.retry_after = None
        super().__init__(self.code)

    @property
    def is_pbx_code(self):
        return self.code not in LOCAL_CODES

    def render(self, translate=lambda s: s):
        """The message for a user: translated template, parameters, then " (code)" for PBX codes."""
        try:
            text = translate(self.template) % self.params
        except (KeyError, TypeError, ValueError):
            # a broken translation (or a missing parameter) must not hide the error itself
            text = self.template % _Params(self.params)
        if self.is_pbx_code:
            text = f"{text} ({self.code})"
        return text

    def __str__(self):
        return self.render()

    def __repr__(self):
        return f"VpbxError({self.code!r}, http_status={self.http_status!r})"


def _pick_code(value):
    return value if isinstance(value, str) and _CODE_RE.match(value) else None


def error_from_envelope(data, http_status=None):
    """Build the VpbxError described by a decoded error envelope.

    Handles ``payload.error`` (+ ``payload.message``), a code in the top-level ``message``,
    free-text messages and unknown codes.
    """
    if not isinstance(data, dict):
        return VpbxError(
            "unexpected_response",
            params={"detail": _text(data)},
            http_status=http_status,
        )
    payload = data.get("payload")
    code = message = None
    if isinstance(payload, dict):
        code = _pick_code(payload.get("error")) or _pick_code(payload.get("code"))
        message = payload.get("message")
        if not code and isinstance(payload.get("error"), str) and payload.get("error"):
            message = message or payload["error"]
    top = data.get("message")
    if not code and _pick_code(top):
        code = top
    elif top and not message:
        message = top
    if not code and _pick_code(message):
        code, message = message, None
    status_code = data.get("status_code")
    if not code and (status_code == 401 or http_status == 401) and not message:
        code = "token_expired" if status_code == 401 else "auth_invalid"
    if code and code in ERROR_MESSAGES and code not in LOCAL_CODES:
        params = {"message": _text(message)} if message else {}
        return VpbxError(code, params=params, http_status=http_status, raw=data)
    if code:
        # A code this module does not know yet: show the PBX's text and the code.
        return VpbxError(
            code,
            template=LOCAL_MESSAGES["unknown_error"],
            params={"message": _text(message or code)},
            http_status=http_status,
            raw=data,
        )
    if message:
        return VpbxError(
            "unknown_error", params={"message": _text(message)}, http_status=http_status, raw=data
        )
    return VpbxError(
        "unexpected_response",
        params={"detail": _text(f"status_code {status_code!r}")},
        http_status=http_status,
        raw=data,
    )


class PayloadError(ValueError):
    """A payload that cannot be read; ``reason`` is an untranslated ``_lt`` template."""

    def __init__(self, reason, **params):
        self.reason = reason
        self.params = params
        super().__init__(reason)

    def render(self, translate=None):
        """The message, translated by ``translate(reason)`` when given, then interpolated."""
        template = translate(self.reason) if translate else self.reason
        try:
            return template % self.params if self.params else template
        except (KeyError, TypeError, ValueError):
            return template

    def __str__(self):
        return self.render()
