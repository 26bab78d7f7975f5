"""Retention windows of the daily purge: which rows are old enough to go, and when a run stops.

Plain Python (no Odoo import); ``models/vpbx_retention.py`` runs the SQL.
"""

import time
from datetime import timedelta

#: Webhook events the purge may remove: done with. ``ignored`` is a processed delivery that
#: changed nothing (a late live event of an ended call). ``new`` (waiting for the queue) and
#: ``failed`` (waiting for a retry or a replay) are never removed, however old.
PURGEABLE_EVENT_STATES = ("processed", "ignored", "rejected")
DEFAULT_EVENT_DAYS = 30
#: Rows removed by one DELETE (one short transaction each)
EVENT_BATCH = 5000
#: Calls are removed through the ORM (their chatter, followers and activities go with them)
CALL_BATCH = 500
#: Archived recordings: files in the filestore, removed through the ORM
RECORDING_BATCH = 200
#: After each batch the purge rests this share of the batch's time (1.0: it works half of the
#: time at most): a night's purge is not urgent, the webhook's deliveries are.
PAUSE_RATIO = 1.0
MAX_PAUSE = 2.0


def cutoff(now, days):
    """The moment before which rows go, for a window of `days`; None: kept for ever (0)."""
    if not days or days <= 0:
        return None
    return now - timedelta(days=days)


def pause_after(batch_seconds, ratio=PAUSE_RATIO):
    """Seconds to rest after a batch that took `batch_seconds`."""
    return min(max(batch_seconds, 0.0) * ratio, MAX_PAUSE)


class Budget:
    """Seconds a run may take; checked between batches, so a run ends soon after."""

    def __init__(self, seconds, clock=time.monotonic):
        self._clock = clock
        self.deadline = clock() + seconds

    def spent(self):
        return self._clock() >= self.deadline
