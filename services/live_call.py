"""Live call events -> who gets which pop-up notification: plain rules, no Odoo import.

A call goes through three stages a user can see: ``ringing`` (a pop-up opens on the phones that
ring), ``answered`` (the others learn who took it) and ``closed`` (hangup or the final record:
every pop-up of the call closes). The call remembers the last stage notified and the extensions
notified so far; each delivery asks ``live_change`` what to send. Stages only move forward, so
re-sends, out-of-order events (a ringing after the answer, a live event after the final record)
and thousands of ringing events of one call never stack pop-ups: one notification per user per
stage change.
"""

import dataclasses

STAGES = ("ringing", "answered", "closed")
_RANK = {stage: rank for rank, stage in enumerate(STAGES, start=1)}
#: the bus notification type of a live call (the browser's service listens to it)
NOTIFICATION_TYPE = "sentech_vpbx/live_call"
EXTENSION_SEPARATOR = ","


@dataclasses.dataclass(frozen=True)
class LiveChange:
    """What a delivery changes: send ``kind`` to the users of ``extensions`` (none when
    ``kind`` is None) and remember ``stage`` and ``known_extensions`` on the call."""

    kind: str | None
    extensions: tuple
    stage: str
    known_extensions: tuple


def call_stage(status, is_final):
    """The stage a user sees of a call in this status; None for one nobody is told of."""
    if is_final:
        return "closed"
    if status == "in_progress":
        return "answered"
    if status == "ringing":
        return "ringing"
    return None  # "calling": a click-to-call not yet placed


def split_extensions(text):
    return tuple(part for part in (text or "").split(EXTENSION_SEPARATOR) if part)


def join_extensions(extensions):
    return EXTENSION_SEPARATOR.join(extensions)


def live_change(notified_stage, notified_extensions, stage, record_extensions):
    """The ``LiveChange`` of a delivery, or None when nothing is to be sent or remembered.

    :param notified_stage: the last stage notified for the call (None: never)
    :param notified_extensions: the extensions notified so far (tuple)
    :param stage: the call's stage after the delivery (``call_stage``)
    :param record_extensions: the extensions the delivery names (ringing ones, the answerer)
    """
    if stage is None:
        return None
    known = tuple(dict.fromkeys((*notified_extensions, *record_extensions)))
    previous = _RANK.get(notified_stage, 0)
    current = _RANK[stage]
    if current < previous:
        return None  # late: a stage already passed is never shown again
    if current == previous:
        if stage != "ringing":
            return None
        # a ring group adding phones: only the new ones open a pop-up
        new = tuple(ext for ext in known if ext not in notified_extensions)
        return LiveChange("ringing", new, stage, known) if new else None
    if stage == "closed" and not notified_stage:
        return None  # nobody was shown this call: nothing to close, nothing to remember
    return LiveChange(stage, known, stage, known)
