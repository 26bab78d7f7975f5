"""PBX call record dict -> ``CallRecord``: the one mapping of webhooks and the history sync.

Plain Python (no Odoo import). The record's exact fields are partly unpublished
(docs/pbx-api.md, "Call records"), so this module reads the documented fields with fallbacks and
is strict about types:

- A field that is missing, empty or holds unreadable text is simply absent; a field holding the
  wrong JSON type (an object or an array where a scalar is expected, a boolean for a number)
  raises ``PayloadError``, so a changed payload shape is noticed instead of silently mis-mapped.
  Nested containers (``user``, ``users_status``, ``customer``) of an unexpected type are
  ignored: they only provide names and a fallback extension.
- Whatever JSON value arrives, the only exception that escapes is ``PayloadError``.

Times are naive UTC, whole seconds. A number below 1e12 is Unix seconds, above it milliseconds;
ISO text is accepted (naive ISO text is taken as UTC). Values before 2000 or after 2100 are
dropped. ``start_time`` falls back to ``time_ringing_start`` and then ``created_date`` (when the
PBX wrote the record, near the end of the call); ``end_time`` to start + duration.

Direction: ``local`` becomes ``internal``; an unknown or missing direction is inferred from
which side is an extension (1-6 digits), and is ``inbound`` when nothing tells.

Statuses: ``ringing`` and ``in_progress`` for live events; ``answered``, ``missed``, ``busy``
and ``failed`` for finished calls. ``busy`` and ``failed`` are kept apart from ``missed`` when
the disposition says so (all three are "not answered": an inbound one asks for a call back).
"""

import dataclasses
import json
import math
import re
from datetime import datetime, timedelta, timezone

from .errors import PayloadError
from .i18n import _lt
from .webhook_body import CALL_ID_FIELDS, json_type

MAX_ID_LENGTH = 255
#: A call longer than this is a corrupt value, not a call (and would overflow an int column).
MAX_DURATION = 31 * 24 * 3600
#: Timestamps outside [2000-01-01, 2100-12-31] are corrupt values.
MIN_EPOCH = 946684800
MAX_EPOCH = 4133980799
#: Below this a Unix time is in seconds, above it in milliseconds (docs/pbx-api.md, "Conventions").
MS_THRESHOLD = 1e12

DIRECTIONS = {
    "inbound": "inbound",
    "in": "inbound",
    "incoming": "inbound",
    "outbound": "outbound",
    "out": "outbound",
    "outgoing": "outbound",
    "local": "internal",
    "internal": "internal",
}
#: Live states meaning the parties are talking.
IN_PROGRESS_STATES = ("answered", "answer", "bridge", "bridged", "in_progress", "talking")
#: Digits of a PBX extension (an agent), as opposed to a customer's phone number.
_EXTENSION = re.compile(r"\d{1,6}")
_NUMERIC = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,3})?")
_TOKEN_SEPARATORS = re.compile(r"[\s\-]+")
#: Several extensions in one field: "101,102", "101:102" (the routing callback's form), "101 102"
_EXTENSION_SEPARATORS = re.compile(r"[\s,;:|]+")
#: More extensions than this on one live event is no ring group but garbage: the rest is dropped.
MAX_RINGING_EXTENSIONS = 50
MAX_EXTENSION_LENGTH = 32


def _token(value):
    """'NO ANSWER', 'no-answer' -> 'no_answer': dispositions and states compare this way."""
    return _TOKEN_SEPARATORS.sub("_", value.strip().lower())


def state_token(value):
    """A state or disposition as compared with the mapping's values ('' for none)."""
    return _token(value) if isinstance(value, str) else ""


def _tokens(text, default):
    if not isinstance(text, str):
        return default
    values = tuple(dict.fromkeys(_token(part) for part in text.split(",") if part.strip()))
    return values or default


@dataclasses.dataclass(frozen=True)
class CallMapping:
    """How PBX values map to statuses; each tuple is editable by an administrator."""

    answered_dispositions: tuple = ("answered", "answer")
    missed_dispositions: tuple = (
        "cancelled",
        "canceled",
        "cancel",
        "no_answer",
        "noanswer",
        "missed",
        "unanswered",
        "timeout",
        "rejected",
        "declined",
        "busy",
        "failed",
    )
    busy_dispositions: tuple = ("busy", "user_busy")
    failed_dispositions: tuple = (
        "failed",
        "fail",
        "error",
        "congestion",
        "chanunavail",
        "unavailable",
    )
    live_states: tuple = ("create", "early", "ringing", "answered")
    final_states: tuple = ("hangup", "cdr", "end", "ended", "completed", "finished")

    @classmethod
    def from_settings(cls, answered=None, missed=None, live_states=None, **others):
        """Build from comma-separated settings (trimmed, lower-cased); empty means default.

        ``others`` takes the same form for ``busy``, ``failed`` and ``final_states``.
        """
        default = cls()
        return cls(
            answered_dispositions=_tokens(answered, default.answered_dispositions),
            missed_dispositions=_tokens(missed, default.missed_dispositions),
            live_states=_tokens(live_states, default.live_states),
            busy_dispositions=_tokens(others.get("busy"), default.busy_dispositions),
            failed_dispositions=_tokens(others.get("failed"), default.failed_dispositions),
            final_states=_tokens(others.get("final_states"), default.final_states),
        )


DEFAULT_MAPPING = CallMapping()


@dataclasses.dataclass
class CallRecord:
    """One call as the PBX reported it, in the addon's vocabulary (times naive UTC)."""

    call_id: str
    call_uuid: str | None = None
    direction: str = "inbound"
    status: str = "missed"
    is_final: bool = True
    state: str | None = None
    disposition: str | None = None
    customer_number: str | None = None
    extension: str | None = None
    hotline: str | None = None
    start_time: datetime | None = None
    answer_time: datetime | None = None
    end_time: datetime | None = None
    duration: int | None = None
    talk_duration: int | None = None
    recording_url: str | None = None
    agent_name: str | None = None
    customer_name: str | None = None
    #: what the agent typed on the PBX's side: a note, and tags (comma-separated)
    note: str | None = None
    tag: str | None = None
    #: every extension the record says rings (or rang) for this call: live events only need it
    ringing_extensions: tuple = ()


#: CallRecord fields holding datetimes (ISO text in the stored form)
_DATETIME_FIELDS = ("start_time", "answer_time", "end_time")


def records_to_json(records):
    """The mapped records as JSON text: a queued delivery keeps them, so that the queue stores
    what the webhook mapped instead of parsing the body a second time."""
    rows = []
    for record in records:
        row = {
            field.name: getattr(record, field.name)
            for field in dataclasses.fields(record)
            if getattr(record, field.name) not in (None, ())
        }
        for name in _DATETIME_FIELDS:
            if name in row:
                row[name] = row[name].isoformat()
        rows.append(row)
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))


def records_from_json(text):
    """CallRecords of ``records_to_json`` text."""
    records = []
    for row in json.loads(text):
        for name in _DATETIME_FIELDS:
            if row.get(name):
                row[name] = datetime.fromisoformat(row[name])
        if "ringing_extensions" in row:
            row["ringing_extensions"] = tuple(row["ringing_extensions"])
        records.append(CallRecord(**row))
    return records


# --- field readers ----------------------------------------------------------------------------


def _wrong_type(field, value):
    return PayloadError(
        _lt("Field %(field)s holds a JSON %(type)s, which cannot be used here"),
        field=field,
        type=json_type(value),
    )


def _text(data, field):
    """A scalar as stripped text (ints as digits), None when absent or empty."""
    value = data.get(field)
    if value is None:
        return None
    if isinstance(value, str):
        # JSON may escape a lone surrogate ("\ud800"), which no database text can hold
        value = value.encode("utf-8", "replace").decode("utf-8")
        value = value.replace("\x00", "").strip()
        return value or None
    if isinstance(value, bool):
        raise _wrong_type(field, value)
    if isinstance(value, int):
        return str(value) if -(10**30) < value < 10**30 else None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() and abs(value) < 1e30 else repr(value)
    raise _wrong_type(field, value)


def _number(data, field):
    """A number, a numeric string or nothing; unreadable text gives None."""
    value = data.get(field)
    if value is None:
        return None
    if isinstance(value, bool | dict | list):
        raise _wrong_type(field, value)
    if isinstance(value, int):
        return float(value) if -1e30 < value < 1e30 else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        value = value.strip()
        if len(value) > 40 or not _NUMERIC.fullmatch(value):
            return None
        number = float(value)
        return number if math.isfinite(number) else None
    raise _wrong_type(field, value)


def _epoch_to_datetime(seconds):
    if seconds >= MS_THRESHOLD:
        seconds /= 1000.0
    if not MIN_EPOCH <= seconds <= MAX_EPOCH:
        return None
    return datetime.fromtimestamp(int(seconds), tz=timezone.utc).replace(tzinfo=None)


def _iso_datetime(text):
    if len(text) > 64:
        return None
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is not None:
        try:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        except (OverflowError, ValueError):
            return None
    if not 2000 <= value.year <= 2100:
        return None
    return value.replace(microsecond=0)


def _datetime(data, field):
    """Unix seconds or milliseconds (number or numeric text) or ISO text -> naive UTC.

    Naive ISO text is taken as UTC. 0, empty and absurd values give None.
    """
    value = data.get(field)
    if isinstance(value, str) and value.strip() and not _NUMERIC.fullmatch(value.strip()):
        return _iso_datetime(value.strip())
    number = _number(data, field)
    if number is None or number <= 0:
        return None
    return _epoch_to_datetime(number)


def _seconds(data, field):
    number = _number(data, field)
    if number is None or number < 0 or number > MAX_DURATION:
        return None
    return int(round(number))


def _first(data, fields, reader):
    for field in fields:
        value = reader(data, field)
        if value is not None:
            return value
    return None


def _dicts(value):
    """A nested container as a list of dicts: a single object counts, anything else is empty."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    return []


def _extension_list(data, field):
    """The extensions of a field: one scalar (several joined by , ; : or spaces) or a list of
    scalars (other items of a list are ignored, like the nested containers)."""
    value = data.get(field)
    if isinstance(value, list):
        texts = []
        for item in value[:MAX_RINGING_EXTENSIONS]:
            if not isinstance(item, dict | list | bool):
                texts.append(_text({field: item}, field))
    else:
        texts = [_text(data, field)]
    found = []
    for text in texts:
        if text:
            found.extend(part for part in _EXTENSION_SEPARATORS.split(text) if part)
    return found


def _ringing_extensions(data, extension, listed):
    """Every extension the record names: its agent's, the listed ones, the ``users_status``
    entries' (a ring group rings several at once)."""
    names = [extension, *listed]
    for entry in _dicts(data.get("users_status"))[:MAX_RINGING_EXTENSIONS]:
        try:
            names.append(_user_extension(entry))
        except PayloadError:  # a nested container only adds names: a bad entry is skipped
            continue
    unique = dict.fromkeys(name for name in names if name and len(name) <= MAX_EXTENSION_LENGTH)
    return tuple(unique)[:MAX_RINGING_EXTENSIONS]


def _is_extension(number):
    return bool(number) and bool(_EXTENSION.fullmatch(number))


def _span(start, end):
    if start and end and end >= start:
        seconds = (end - start).total_seconds()
        if seconds <= MAX_DURATION:
            return int(seconds)
    return None


# --- mapping ----------------------------------------------------------------------------------


def _direction(data, source, destination, extension):
    raw = _text(data, "direction")
    if raw:
        known = DIRECTIONS.get(_token(raw))
        if known:
            return known
    # unknown or missing: infer from which side is an extension; inbound is the default
    if extension and extension == source and not _is_extension(destination):
        return "outbound"
    if _is_extension(source) and _is_extension(destination):
        return "internal"
    if _is_extension(source) and destination:
        return "outbound"
    return "inbound"


def _answering_user(data):
    """The ``users_status`` entry that picked up (it has ``answer_at``)."""
    for entry in _dicts(data.get("users_status")):
        if entry.get("answer_at") not in (None, "", 0, False):
            return entry
    return None


def _user_extension(entry):
    return _first(entry, ("extension", "sip_user", "ext", "internal_number"), _text)


def _user_name(entry):
    return _first(entry, ("full_name", "name", "display_name", "agent_name"), _text)


def _agent_name(data, extension):
    name = _first(data, ("agent_name", "user_name"), _text)
    if name:
        return name
    users = _dicts(data.get("user"))
    for entry in users:
        if extension and _user_extension(entry) == extension:
            return _user_name(entry)
    return _user_name(users[0]) if users else None


def _customer_name(data):
    name = _text(data, "customer_name")
    if name:
        return name
    customer = data.get("customer")
    if isinstance(customer, str):
        return _text(data, "customer")
    for entry in _dicts(customer):
        name = _first(entry, ("full_name", "name", "display_name"), _text)
        if name:
            return name
    return None


def _pbx_text(value, limit):
    """A note or tag as text: a string, or the strings (and objects' names) of a list."""
    if isinstance(value, dict):
        value = value.get("name") or value.get("label") or value.get("title")
    if isinstance(value, list):
        parts = [_pbx_text(item, limit) for item in value[:20]]
        value = ", ".join(part for part in parts if part)
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "").strip()
    return value[:limit] or None


def _agent_typed(data, field, extension, limit):
    """The call's `field` (note, tag), else the one the answering agent typed in ``user[]``."""
    value = _pbx_text(data.get(field), limit)
    if value:
        return value
    users = _dicts(data.get("user"))
    ordered = [u for u in users if extension and _user_extension(u) == extension] + users
    for entry in ordered:
        value = _pbx_text(entry.get(field), limit)
        if value:
            return value
    return None


def _recording_url(data):
    fields = ("recording_file_url", "recording_url", "record_url", "recording_file")
    url = _first(data, fields, _text)
    if url and url.lower().startswith(("https://", "http://")):
        return url
    return None  # a bare file name or another scheme is no link we can offer


def _final_status(disposition, talk, answer_time, mapping):
    if disposition:
        if disposition in mapping.answered_dispositions:
            return "answered"
        if disposition in mapping.busy_dispositions:
            return "busy"
        if disposition in mapping.failed_dispositions:
            return "failed"
        if disposition in mapping.missed_dispositions:
            return "missed"
    if talk is not None:
        return "answered" if talk > 0 else "missed"
    return "answered" if answer_time else "missed"


def parse_record(data, mapping=None):
    """Map one PBX call payload to a ``CallRecord``; see the module docstring for the rules.

    Raises ``PayloadError`` when there is no call id or a field has an unusable type.
    """
    try:
        return _parse_record(data, mapping or DEFAULT_MAPPING)
    except PayloadError:
        raise
    except Exception as exc:  # a safety net: callers only expect PayloadError
        raise PayloadError(
            _lt("The call record could not be read: %(error)s"), error=repr(exc)
        ) from exc


def _parse_record(data, mapping):
    if not isinstance(data, dict):
        raise PayloadError(
            _lt("A call record must be a JSON object, not a JSON %(type)s"), type=json_type(data)
        )
    call_uuid = _text(data, "call_uuid") or _text(data, "callUuid")
    call_id = _first(data, CALL_ID_FIELDS, _text)
    if not call_id:
        raise PayloadError(_lt("No call id in the payload (transaction_id or call_uuid)"))
    if len(call_id) > MAX_ID_LENGTH:
        raise PayloadError(
            _lt("The call id is longer than %(limit)s characters"), limit=MAX_ID_LENGTH
        )

    source = _first(data, ("source_number", "from_number"), _text)
    destination = _first(data, ("destination_number", "to_number"), _text)
    answering = _answering_user(data)
    listed = _extension_list(data, "extension")
    extension = _text(data, "sip_user")
    if not extension and len(listed) == 1:
        extension = listed[0]
    if not extension and answering:
        extension = _user_extension(answering)
    if not extension:
        for entry in _dicts(data.get("user"))[:1]:
            extension = _user_extension(entry)
    direction = _direction(data, source, destination, extension)
    if not extension:
        side = destination if direction == "inbound" else source  # the agent's side
        extension = side if _is_extension(side) else None

    customer = _text(data, "phone_number")
    if not customer:
        if direction == "outbound":
            customer = _first(data, ("destination_number", "to_number"), _text)
        elif direction == "inbound":
            customer = _first(data, ("source_number", "from_number"), _text)

    start = _first(
        data,
        ("time_start_call", "time_ringing_start", "start_time", "started_at", "created_date"),
        _datetime,
    )
    answer = _first(data, ("time_answer_start", "answer_time", "answered_at"), _datetime)
    if not answer and answering:
        answer = _datetime(answering, "answer_at")
    end = _first(data, ("time_end_call", "end_time", "ended_at"), _datetime)
    duration = _first(data, ("duration", "total_duration"), _seconds)
    talk = _first(data, ("bill_sec", "billsec", "talk_time", "talk_duration"), _seconds)
    if duration is None:
        duration = _span(start, end)
    if talk is None:
        talk = _span(answer, end)
    explicit_end = end is not None
    if end is None and start and duration is not None:
        end = start + timedelta(seconds=duration)

    state_raw = _text(data, "state")
    state = _token(state_raw) if state_raw else None
    disposition_raw = _text(data, "disposition")
    disposition = _token(disposition_raw) if disposition_raw else None
    if state is None or state in mapping.final_states:
        is_final = True
    elif state in mapping.live_states:
        is_final = False
    else:  # a state nobody configured: final only if the call visibly ended
        is_final = bool(disposition or explicit_end)
    if is_final:
        status = _final_status(disposition, talk, answer, mapping)
    elif state in IN_PROGRESS_STATES or answer:
        status = "in_progress"
    else:
        status = "ringing"

    return CallRecord(
        call_id=call_id,
        call_uuid=call_uuid,
        direction=direction,
        status=status,
        is_final=is_final,
        state=state_raw,
        disposition=disposition_raw,
        customer_number=customer,
        extension=extension,
        hotline=_first(data, ("sip_number", "hotline"), _text),
        start_time=start,
        answer_time=answer,
        end_time=end,
        duration=duration,
        talk_duration=talk,
        recording_url=_recording_url(data),
        agent_name=_agent_name(data, extension),
        customer_name=_customer_name(data),
        note=_agent_typed(data, "note", extension, 2000) if is_final else None,
        tag=_agent_typed(data, "tag", extension, 255) if is_final else None,
        ringing_extensions=() if is_final else _ringing_extensions(data, extension, listed),
    )
