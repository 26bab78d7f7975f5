"""Windows and pages of the call history sync (plain Python, no Odoo import).

Paging is by offset (``page``/``size``) over a FIXED window ``[from, to]``: a call that the PBX
adds to the window while we page (a call that ends meanwhile) shifts later items down by one,
so an item may come twice (the upsert makes that harmless) but none is skipped, whatever the
sort order. So a run that stops half-way keeps its window and resumes at the next page.
"""

import calendar
from datetime import timedelta

PAGE_SIZE = 50
#: Never page forever when a PBX keeps saying there is more (5 million records).
MAX_PAGES = 100000
#: How far back the very first sync of an account looks (older calls: Import history).
INITIAL_LOOKBACK = timedelta(days=1)


def to_epoch(moment, unit="ms"):
    """Unix time of a naive UTC datetime, in milliseconds (``ms``) or seconds (``s``)."""
    seconds = calendar.timegm(moment.utctimetuple()) + moment.microsecond / 1e6
    return int(seconds) if unit == "s" else int(seconds * 1000)


def sync_window(cursor, now, overlap_minutes, lookback=INITIAL_LOOKBACK):
    """``(from, to)`` of the next sync: from the cursor minus the overlap (a call that was still
    going on at the last sync is listed once it ends, with its start time before the cursor),
    or ``lookback`` before now for the first sync."""
    overlap = timedelta(minutes=max(0, overlap_minutes or 0))
    start = (cursor - overlap) if cursor else (now - max(lookback, overlap))
    return min(start, now), now


def page_items(payload):
    """The records of one history page (``payload.items``; a bare list is accepted)."""
    if isinstance(payload, list):
        items = payload
    elif isinstance(payload, dict):
        items = payload.get("items")
        if items is None:
            items = payload.get("data") or []
    else:
        items = []
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def total_pages(payload, size=PAGE_SIZE):
    """Pages of the whole result as the PBX announces them, or None when it does not say."""
    if not isinstance(payload, dict):
        return None
    pages = _int(payload.get("total_pages"))
    if pages is not None:
        return max(pages, 0)
    items = _int(payload.get("total_items"))
    if items is not None and size:
        return -(-items // size)
    return None


def has_next(payload, page, size=PAGE_SIZE):
    """Whether a page follows ``page``: ``has_next`` when given, else the announced page count,
    else a full page means there may be more."""
    if isinstance(payload, dict) and isinstance(payload.get("has_next"), bool):
        return payload["has_next"]
    pages = total_pages(payload, size)
    if pages is not None:
        return page < pages
    return len(page_items(payload)) >= size
