"""The chatter notes of calls, written by one INSERT instead of ``mail.message``'s create.

A call's note (``vpbx.call._vpbx_note_values``) notifies nobody and has no attachment, tracking,
parent or email: the row that ``mail.message.create`` writes for it is known in advance. Through
the ORM the notes of a queue batch cost 0.41 of its 1.1 ms per delivery (create's defaults and
conversions, the Html body sanitized twice, inverse caches). Here the body is sanitized once,
by the field itself, or not at all when it is a call's own Markup the sanitizer returns unchanged
(STABLE_BODY), and the batch's notes are one statement. tests/test_call_notes.py compares every
column with the row the ORM writes.
"""

import re

from markupsafe import Markup

from odoo import fields

#: What a note's values may hold: these columns, and the ones given empty (NULL, as create)
COLUMNS = {
    "model": "varchar",
    "res_id": "int",
    "body": "text",
    "message_type": "varchar",
    "is_internal": "bool",
    "subtype_id": "int",
    "author_id": "int",
    "message_id": "varchar",
}
EMPTY = ("email_from", "reply_to", "record_name", "record_alias_domain_id", "record_company_id")
#: What create clears in the cache of the documents of a new message (_invalidate_documents)
DOCUMENT_FIELDS = ["message_ids", "message_needaction", "message_needaction_counter"]

#: Text of a call's note as Markup escapes it, in characters the sanitizer keeps as they are:
#: no quote (escaped as &#34; / &#39;, which it writes back as quotes), no control character
#: but tab and newline, no no-break space (it writes &nbsp;), no surrogate, no noncharacter.
_TEXT = (
    r"(?:[\t\n\x20\x21\x23-\x25\x28-\x3b\x3d\x3f-\x7e\xa1-\ud7ff\ue000-\ufdcf\ufdf0-\ufffd]"
    r"|&(?:amp|lt|gt);)+"
)
#: A body of the shapes vpbx.call writes (its text in one or two paragraphs, then maybe the link
#: to the call's recording route) that the sanitizer returns unchanged: stored as it is. Each
#: body is a call's own, and sanitizing it cost 0.18 ms, a quarter of what processing a queued
#: delivery costs. Any other body is sanitized. tests/test_call_notes.py checks both.
STABLE_BODY = re.compile(
    rf"(?:<p>{_TEXT}</p>){{1,2}}"
    r'(?:<p><a class="o_vpbx_recording" href="/vpbx/call/\d+/recording" target="_blank"'
    rf' rel="noopener noreferrer">{_TEXT}</a></p>)?'
)


def column_body(body, field, model):
    """The body as the ``mail.message`` row holds it: as the field's conversion writes it (the
    sanitizer's output), without running the sanitizer on a STABLE_BODY."""
    if isinstance(body, Markup) and STABLE_BODY.fullmatch(body):
        return str(body)
    return field.convert_to_column(body, model)


def insert_notes(env, values_list):
    """Create the notes `values_list` (values of ``_vpbx_note_values``) as ``mail.message``
    rows, with one INSERT; returns their ids."""
    if not values_list:
        return []
    Message = env["mail.message"].sudo()
    body = Message._fields["body"]
    columns = {name: [] for name in COLUMNS}
    sanitized = {}  # the contact's and the lead's note of a call share their body
    for values in values_list:
        refused = (set(values) - set(COLUMNS) - set(EMPTY)) | {k for k in EMPTY if values.get(k)}
        if refused:
            raise ValueError(f"A call note cannot hold {sorted(refused)}")
        row = {**values, "message_id": values.get("message_id") or Message._get_message_id(values)}
        key = values.get("body")
        if key not in sanitized:
            sanitized[key] = column_body(key, body, Message)  # sanitized, once
        row["body"] = sanitized[key]
        for name, column in columns.items():
            value = row.get(name)
            column.append(None if value is False else value)
    now = env.cr.now()
    names = list(COLUMNS)
    # the column names are the constants above, the values parameters
    env.cr.execute(
        f"""
        INSERT INTO mail_message ({", ".join(names)}, date, email_add_signature,
                                  create_uid, write_uid, create_date, write_date)
        SELECT {", ".join(f"v.{name}" for name in names)}, %(date)s, TRUE,
               %(uid)s, %(uid)s, %(now)s, %(now)s
          FROM unnest({", ".join(f"%({name})s::{COLUMNS[name]}[]" for name in names)})
               AS v({", ".join(names)})
        RETURNING id
        """,  # pylint: disable=sql-injection
        {
            **columns,
            "date": fields.Datetime.now(),  # the field's default, once per create
            "uid": env.uid,
            "now": now,
        },
    )
    ids = [row[0] for row in env.cr.fetchall()]
    documents = {}
    for model, res_id in zip(columns["model"], columns["res_id"], strict=True):
        documents.setdefault(model, set()).add(res_id)
    for model, res_ids in documents.items():
        if model in env and hasattr(env[model], "message_ids"):
            env[model].browse(res_ids).invalidate_recordset(DOCUMENT_FIELDS)
    return ids
