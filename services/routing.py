"""Ring-time routing (OmiCall's routing-criteria callback): what the PBX is answered.

The PBX asks ``GET /vpbx/route/<token>?phoneNumber=<caller>&sipNumber=<hotline>`` and waits at
most about 2 s for a ``text/plain`` body listing extensions joined by ``:`` (``101:102``); an
empty body lets it route the call by its own rules. Plain Python: which caller numbers are
looked up at all, how extensions are joined, and the reasons written in the routing log.
"""

import dataclasses
import re

from .phone import phone_keys

#: A caller longer than this, or with anything but digits, '+', spaces and - . ( ), is refused
#: before any lookup ("letters", 40-digit numbers, garbage); "(+84) 912..." is a number
MAX_CALLER = 32
_CALLER_RE = re.compile(r"^[0-9 ()+.\-]+$")
#: What an extension may look like in the answer (':' separates them: never inside one)
_EXTENSION_RE = re.compile(r"^[0-9A-Za-z_.\-]{1,32}$")
#: At most this many extensions are answered (the owner first, then their team)
MAX_EXTENSIONS = 10
#: Lookups never run longer than this (the PBX waits about 2 s)
STATEMENT_TIMEOUT_MS = 1000

#: Reasons of an answer, as stored in the routing log (labels: vpbx.route.log.reason)
REASONS = (
    "owner",  # the caller's salesperson
    "owner_team",  # the salesperson and their sales team
    "team",  # the salesperson has no extension: their team
    "no_owner",
    "no_extension",
    "no_number",
    "bad_number",
    "bad_token",
    "bad_key",
    "disabled",
    "error",
)


def reason_of(owner_extension, team_extensions, has_owner):
    """The reason code of an answer made of these extensions."""
    if not has_owner:
        return "no_owner"
    if owner_extension:
        return "owner_team" if team_extensions else "owner"
    return "team" if team_extensions else "no_extension"


@dataclasses.dataclass(frozen=True)
class RouteSettings:
    """What answering a routing request reads of its account: cached per worker."""

    pbx_id: int
    company_id: int
    region: str
    enabled: bool
    api_key: str
    team_members: bool


def caller_keys(caller, region):
    """The number keys of the caller as the PBX sent it; () when it is no phone number."""
    if not isinstance(caller, str):
        return ()
    text = caller.strip()
    if not text or len(text) > MAX_CALLER or not _CALLER_RE.match(text):
        return ()
    return tuple(phone_keys(text, region))


def join_extensions(extensions):
    """'101:102': each extension once, in order, only well-formed ones, at most MAX_EXTENSIONS."""
    seen = []
    for written in extensions:
        extension = (written or "").strip()
        if _EXTENSION_RE.match(extension) and extension not in seen:
            seen.append(extension)
        if len(seen) >= MAX_EXTENSIONS:
            break
    return ":".join(seen)
