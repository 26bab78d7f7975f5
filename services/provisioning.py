"""Provisioning of PBX extensions: plain Python, no Odoo import.

The agent invite body and the place of the credentials in its reply are not published
(docs/pbx-api.md, "Agent invite"), so the request field names and the extraction paths come
from settings; this module only applies them.
"""

import secrets
import string

# Where the invite reply may put the credentials, most specific first: an explicit
# ``pbx_account`` object, then the payload itself, then the envelope root.
DEFAULT_ROOTS = ("payload.pbx_account", "payload", "")
DEFAULT_KEYS = {
    "domain": ("domain", "sip_realm"),
    "extension": ("sip_user", "username", "extension"),
    "password": ("password", "sip_password"),
    "agent_id": ("agent_id",),
}
CREDENTIALS = ("domain", "extension", "password", "agent_id")


def default_paths(credential):
    """Comma-separated dotted paths tried in order for one credential."""
    keys = DEFAULT_KEYS[credential]
    return ", ".join(f"{root}.{key}" if root else key for root in DEFAULT_ROOTS for key in keys)


DEFAULT_PATHS = {credential: default_paths(credential) for credential in CREDENTIALS}

# Special characters accepted by the documented policy; quotes, spaces and backslashes are
# left out because they break SIP clients' configuration files.
PASSWORD_SPECIALS = "!@#$%&*-_=+?"
PASSWORD_MIN_LENGTH = 8


def generate_password(length=16):
    """A random password meeting the invite policy: 8+ characters, upper and lower case,
    a digit and a special character."""
    length = max(int(length), PASSWORD_MIN_LENGTH)
    classes = (string.ascii_uppercase, string.ascii_lowercase, string.digits, PASSWORD_SPECIALS)
    chars = [secrets.choice(cls) for cls in classes]
    alphabet = "".join(classes)
    chars += [secrets.choice(alphabet) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


def build_invite_body(fields, values):
    """The invite request body.

    ``fields`` maps a logical name (full_name, email, password, role, extension) to the
    request field name configured for it; an empty name means "do not send". Empty values
    are not sent either.
    """
    body = {}
    for logical, configured in fields.items():
        name = (configured or "").strip()
        value = values.get(logical)
        if name and value not in (None, False, ""):
            body[name] = value
    return body


def parse_paths(text):
    """``"payload.a, b"`` -> ``["payload.a", "b"]`` (blank items dropped)."""
    if isinstance(text, list | tuple):
        return [p.strip() for p in text if p and p.strip()]
    return [p.strip() for p in (text or "").replace("\n", ",").split(",") if p.strip()]


def dig(data, path):
    """Value at a dotted ``path`` in decoded JSON (digits index lists), or None."""
    current = data
    for part in path.split("."):
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
        if current is None:
            return None
    return current


def _scalar(value):
    """A credential as text: numbers (an extension sent as 101) become strings."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        value = str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return None


def first_value(data, paths):
    for path in parse_paths(paths):
        value = _scalar(dig(data, path))
        if value is not None:
            return value
    return None


def extract_credentials(data, paths=None):
    """Credentials found in an invite reply (the whole envelope).

    ``paths`` maps each credential (domain, extension, password, agent_id) to its dotted paths
    (a comma-separated string or a list); missing entries use the defaults. Returns a dict with
    every credential, None when not found.
    """
    paths = paths or {}
    return {
        credential: first_value(data, paths.get(credential) or DEFAULT_PATHS[credential])
        for credential in CREDENTIALS
    }


def item_keys(paths, credential=None):
    """The keys to read in a flat record (an internal_phone item): the last segment of each
    configured path, in order, without duplicates; then the default keys of ``credential``."""
    keys = []
    defaults = DEFAULT_KEYS.get(credential, ())
    for path in parse_paths(paths) + list(defaults):
        key = path.rsplit(".", 1)[-1]
        if key and key not in keys:
            keys.append(key)
    return keys


def credentials_from_item(item, paths=None):
    """Credentials of one internal_phone item, read with the same key names as the invite."""
    paths = paths or {}
    result = {}
    for credential in CREDENTIALS:
        keys = item_keys(paths.get(credential) or DEFAULT_PATHS[credential], credential)
        result[credential] = first_value(item, keys)
    return result


def _email(value):
    return (value or "").strip().lower() if isinstance(value, str) else ""


class MatchResult:
    """Outcome of looking an employee up among internal_phone items.

    ``status`` is ``found`` (``item`` set), ``none`` or ``ambiguous`` (``candidates`` set);
    ``by`` says which key decided: ``email`` or ``extension``.
    """

    def __init__(self, status, by=None, item=None, candidates=()):
        self.status = status
        self.by = by
        self.item = item
        self.candidates = list(candidates)

    def __repr__(self):
        return f"MatchResult({self.status!r}, by={self.by!r})"


def match_items(items, email=None, extension=None, paths=None):
    """Find the internal_phone item of an employee: by e-mail first, then by extension.

    The PBX ``keyword`` filter matches substrings (``10`` finds 101 and 102), so every match
    here is exact: e-mail compared case-insensitively, extension as text.
    """
    items = [item for item in items or [] if isinstance(item, dict)]
    email = _email(email)
    extension = _scalar(extension)
    ext_keys = item_keys((paths or {}).get("extension") or DEFAULT_PATHS["extension"], "extension")

    def item_extension(item):
        return first_value(item, ext_keys)

    if email:
        by_email = [
            item
            for item in items
            if _email(item.get("email")) == email or _email(item.get("identify_info")) == email
        ]
        if len(by_email) == 1:
            return MatchResult("found", "email", by_email[0])
        if len(by_email) > 1:
            if extension:
                both = [item for item in by_email if item_extension(item) == extension]
                if len(both) == 1:
                    return MatchResult("found", "email", both[0])
            return MatchResult("ambiguous", "email", candidates=by_email)
    if extension:
        by_ext = [item for item in items if item_extension(item) == extension]
        if len(by_ext) == 1:
            return MatchResult("found", "extension", by_ext[0])
        if len(by_ext) > 1:
            return MatchResult("ambiguous", "extension", candidates=by_ext)
    return MatchResult("none")


def describe_item(item, paths=None):
    """Short, secret-free description of an internal_phone item, for messages."""
    creds = credentials_from_item(item, paths)
    parts = [creds["extension"] or "?"]
    name = item.get("full_name")
    if isinstance(name, str) and name.strip():
        parts.append(name.strip())
    email = item.get("email")
    if isinstance(email, str) and email.strip():
        parts.append(f"<{email.strip()}>")
    return " ".join(parts)
