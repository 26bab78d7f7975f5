"""Which UTM source and sales team a new lead gets from the hotline the customer called.

The account's mapping (``vpbx.pbx.lead.source``) is read once into ``HotlineSource`` rows; a
hotline is compared through its number keys, so ``842888806669`` from the PBX matches a
mapping typed ``028 8880 6669``. A row without a hotline is the default.
"""

import dataclasses

from .phone import phone_keys


@dataclasses.dataclass(frozen=True)
class HotlineSource:
    #: number keys of the hotline; () for the default row
    keys: tuple
    #: the hotline as typed, compared as text when it is no phone number (e.g. "1900")
    hotline: str
    source_id: int | None
    team_id: int | None
    #: the team's leader: the salesperson of a lead nobody answered
    team_leader_id: int | None


def hotline_source(hotline, source_id, team_id, team_leader_id, region):
    text = (hotline or "").strip()
    return HotlineSource(
        keys=tuple(phone_keys(text, region)) if text else (),
        hotline=text,
        source_id=source_id or None,
        team_id=team_id or None,
        team_leader_id=team_leader_id or None,
    )


def source_for(sources, hotline, region):
    """The row of `hotline` (first match in order), else the default row, else None."""
    text = (hotline or "").strip()
    keys = set(phone_keys(text, region)) if text else set()
    default = None
    for source in sources:
        if not source.hotline:
            default = default or source
        elif (keys and keys.intersection(source.keys)) or (text and text == source.hotline):
            return source
    return default
