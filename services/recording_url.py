"""Which recording links the addon renders as a player and redirects to: http(s) URLs only.

The PBX's ``recording_file_url`` is text from outside: ``javascript:``, ``data:``, ``file:``,
a bare file name (``recording_file``) or a URL with spaces is never turned into a link, a player
or a redirect; it is shown as text. Plain Python (no Odoo import).
"""

import re
from urllib.parse import urlsplit

SCHEMES = ("http", "https")
MAX_LENGTH = 2048
#: Characters RFC 3986 does not allow in a URL (browsers would read them each their own way)
UNSAFE = frozenset(' "<>\\^`{|}')
#: ...and control characters: one search, not a Python loop over the URL (once per call stored)
_NOT_A_URL = re.compile("[\x00-\x1f\x7f" + re.escape("".join(sorted(UNSAFE))) + "]")


def playable_url(value):
    """`value` stripped when it is an absolute http(s) URL with a host, else None."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    if not url or len(url) > MAX_LENGTH:
        return None
    if _NOT_A_URL.search(url):
        return None  # spaces, quotes, brackets, control characters: not a URL as written
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # a malformed IPv6 host, a bad port
        return None
    if parts.scheme.lower() not in SCHEMES or not host:
        return None
    return url


def recording_route(call_id):
    """The Odoo route that plays a call's recording after checking the user may read the call."""
    return f"/vpbx/call/{int(call_id)}/recording"
