"""Webhook bodies -> record dicts: the body parser (plain Python, no Odoo import).

The exact webhook body of SENTECH VPBX is unpublished (docs/pbx-api.md, "Webhooks"), so the
parser is tolerant of shapes: a JSON object, a JSON list of objects, an API envelope
(``{"payload": {"items": [...]}}``) or a form body (url-encoded or multipart), whose
``data=``/``payload=`` field may hold JSON; flat form fields become one record. A form is
decoded here from the body as sent, strict UTF-8 after percent-decoding: a field that is not
UTF-8 refuses the body (replacement characters would make two call ids one). Whatever arrives,
the only exception that escapes is ``PayloadError``. Each record dict then goes through
``call_mapping.parse_record``.
"""

import json
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qsl, quote

from .errors import PayloadError
from .i18n import _lt

MAX_DEPTH = 32
MAX_RECORDS = 1000
MAX_FORM_FIELDS = 1000
CALL_ID_FIELDS = (
    "transaction_id",
    "transactionId",
    "call_uuid",
    "callUuid",
    "uuid",
    "call_id",
    "callId",
    "id",
)
#: Keys that wrap the records in an envelope or a form field.
WRAPPER_FIELDS = ("payload", "data", "items", "records", "record", "calls", "body", "json")


def json_type(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def _check_depth(value):
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > MAX_DEPTH:
            raise PayloadError(
                _lt("The payload is nested deeper than %(limit)s levels"), limit=MAX_DEPTH
            )
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def _loads(text):
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise PayloadError(
            _lt("The payload is nested deeper than %(limit)s levels"), limit=MAX_DEPTH
        ) from None
    except ValueError as exc:  # JSONDecodeError, and ints longer than Python's digit limit
        raise PayloadError(
            _lt("The payload is not valid JSON: %(error)s"), error=str(exc)
        ) from None
    if isinstance(value, dict | list):
        _check_depth(value)
    return value


def _has_call_id(record):
    return any(record.get(key) not in (None, "") for key in CALL_ID_FIELDS)


def _records(value, unwrap=3):
    """Top-level JSON value -> list of record dicts, unwrapping envelopes without a call id."""
    if isinstance(value, dict):
        if unwrap and not _has_call_id(value):
            for key in WRAPPER_FIELDS:
                inner = value.get(key)
                if isinstance(inner, dict | list):
                    return _records(inner, unwrap - 1)
        return [value]
    if isinstance(value, list):
        if len(value) > MAX_RECORDS:
            raise PayloadError(
                _lt("The payload holds %(count)s records, more than the limit of %(limit)s"),
                count=len(value),
                limit=MAX_RECORDS,
            )
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                raise PayloadError(
                    _lt("Record %(index)s of the payload is a JSON %(type)s, not an object"),
                    index=index + 1,
                    type=json_type(item),
                )
        return value
    raise PayloadError(
        _lt("The payload must be a JSON object or a list of objects, not a JSON %(type)s"),
        type=json_type(value),
    )


def _field_name(name):
    """A form field's name as sent (percent-encoded), for an error message."""
    return quote(name.encode("utf-8", "surrogateescape"), safe="") or '""'


def _not_utf8(name):
    return PayloadError(
        _lt("The form field %(field)s is not valid UTF-8 text"), field=_field_name(name)
    )


def _form_pairs(text):
    """(name, value) pairs of a url-encoded form, percent-decoded as strict UTF-8."""
    try:
        # invalid percent-encoded bytes become lone surrogates: refused below, with the field
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            max_num_fields=MAX_FORM_FIELDS,
            encoding="utf-8",
            errors="surrogateescape",
        )
    except ValueError:
        raise PayloadError(
            _lt("The form payload has more than %(limit)s fields"), limit=MAX_FORM_FIELDS
        ) from None
    for key, value in pairs:
        for part in (key, value):
            try:
                part.encode("utf-8")
            except UnicodeEncodeError:
                raise _not_utf8(key) from None
    return pairs


def _multipart_pairs(body, content_type):
    """(name, value) pairs of a multipart/form-data body (its parts' contents as UTF-8)."""
    header = "".join(content_type.splitlines()).encode("latin-1", "replace")
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + header + b"\r\n\r\n" + body)
    if not message.is_multipart() or message.defects:
        raise PayloadError(
            _lt("The multipart payload cannot be read: no boundary, or its parts are broken")
        )
    pairs = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition") or ""
        if not isinstance(name, str):  # an RFC 2231 name: (charset, language, value)
            name = name[2]
        try:
            value = (part.get_payload(decode=True) or b"").decode("utf-8")
        except UnicodeDecodeError:
            raise _not_utf8(name) from None
        pairs.append((name, value))
        if len(pairs) > MAX_FORM_FIELDS:
            raise PayloadError(
                _lt("The form payload has more than %(limit)s fields"), limit=MAX_FORM_FIELDS
            )
    return pairs


def _form_records(pairs):
    fields = {}
    for key, value in pairs:
        stripped = value.strip()
        if stripped[:1] in ("{", "["):
            try:
                fields[key] = _loads(stripped)
                continue
            except PayloadError:
                if key in WRAPPER_FIELDS or len(pairs) == 1:
                    raise
        fields[key] = value
    for key in WRAPPER_FIELDS:
        if isinstance(fields.get(key), dict | list):
            records = _records(fields.pop(key))
            for record in records:
                for name, value in fields.items():
                    record.setdefault(name, value)
            return records
    if len(fields) == 1:
        (only,) = fields.values()
        if isinstance(only, dict | list):
            return _records(only)
    return [fields] if fields else []


def _parse_form(text):
    return _form_records(_form_pairs(text))


def parse_body(body, content_type=None):
    """Records of a webhook body: JSON object or list of objects, or a form body.

    Raises ``PayloadError`` for invalid UTF-8 (form fields included) or JSON, an empty body, a
    wrong top-level type, list items that are not objects, nesting deeper than 32 or more than
    1000 records, a multipart body without a boundary.
    """
    try:
        return _parse_body(body, content_type)
    except PayloadError:
        raise
    except Exception as exc:  # a safety net: callers only expect PayloadError
        raise PayloadError(
            _lt("The payload could not be read: %(error)s"), error=repr(exc)
        ) from exc


def _parse_body(body, content_type):
    if isinstance(body, str):
        text = body
    elif isinstance(body, bytes | bytearray | memoryview):
        try:
            text = bytes(body).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise PayloadError(_lt("The payload is not valid UTF-8 text")) from None
    else:
        raise PayloadError(_lt("The payload is empty"))
    if "\x00" in text:  # no JSON or form body has a raw one, and PostgreSQL text cannot hold it
        raise PayloadError(_lt("The payload contains NUL characters"))
    ctype = content_type.split(";")[0].strip().lower() if isinstance(content_type, str) else ""
    if ctype == "multipart/form-data":
        return _form_records(_multipart_pairs(text.encode("utf-8"), content_type))
    text = text.strip()
    if not text:
        raise PayloadError(_lt("The payload is empty"))
    is_form = ctype == "application/x-www-form-urlencoded"
    if text[0] in "{[":
        try:
            return _records(_loads(text))
        except PayloadError:
            if not is_form:
                raise
        return _parse_form(text)
    if is_form or ("=" in text and "json" not in ctype):
        return _parse_form(text)
    return _records(_loads(text))
