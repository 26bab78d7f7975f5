"""Vietnam's 2017 landline and 2018 mobile renumbering, read from the two CSV tables.

Plain Python (no Odoo import). The tables ship in ``services/data`` verbatim from the official
lists and are loaded once at import, so a correction is a data change, not a code change.

Everything here works on *national significant numbers* (NSN): the digits after ``+84``, without
the trunk ``0``; e.g. ``0168 345 6789`` is the NSN ``1683456789``.

- 2018 mobile: an old 11-digit number ``01xx`` + 7 digits became the 3-digit prefix + the same
  7 digits (``0168 345 6789`` -> ``038 345 6789``).
- 2017 landline: the area code changed and the subscriber number was kept: 8 digits after the
  old ``04``/``08`` (Hà Nội, TP. Hồ Chí Minh), 7 digits after every other code. Rows marked
  ``unchanged`` keep their code and need no second reading.
"""

import csv
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
MOBILE_CSV = DATA_DIR / "vn_mobile_prefix_2018.csv"
LANDLINE_CSV = DATA_DIR / "vn_landline_area_codes_2017.csv"

#: Subscriber length after a two-digit area code (Hà Nội, TP. Hồ Chí Minh) and after the others.
LONG_SUBSCRIBER = 8
SHORT_SUBSCRIBER = 7
#: Digits kept after an old mobile prefix.
MOBILE_SUBSCRIBER = 7


def _nsn(code):
    """'0168' -> '168': codes are written with the trunk 0 in the tables."""
    code = code.strip()
    if not code.isdigit() or not code.startswith("0") or len(code) < 2:
        raise ValueError(f"bad code {code!r} in the renumbering tables")
    return code[1:]


def _load_mobile():
    """Old mobile NSN prefix -> (new NSN prefix, operator)."""
    with MOBILE_CSV.open(encoding="utf-8", newline="") as handle:
        return {
            _nsn(row["old_prefix"]): (_nsn(row["new_prefix"]), row["operator"].strip())
            for row in csv.DictReader(handle)
        }


def _load_landline():
    """Old NSN area code -> (new NSN area code, subscriber length, province, phase).

    The subscriber length follows from the *new* code: two digits (24, 28) mean 8 digits.
    """
    codes = {}
    with LANDLINE_CSV.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            old, new = _nsn(row["old_code"]), _nsn(row["new_code"])
            if old == new:
                continue  # unchanged: the number is already modern
            length = LONG_SUBSCRIBER if len(new) == 2 else SHORT_SUBSCRIBER
            codes[old] = (new, length, row["province"].strip(), row["phase"].strip())
    return codes


OLD_MOBILE_PREFIXES = _load_mobile()
OLD_LANDLINE_CODES = _load_landline()
_OLD_LANDLINE_LENGTHS = sorted({len(code) for code in OLD_LANDLINE_CODES})
_OLD_MOBILE_LENGTH = 3  # '168'


def old_readings(nsn):
    """Modern NSNs that ``nsn`` would be if it were written in a pre-2017/2018 plan.

    Only exact fits count (prefix *and* total length), so a modern 11-digit landline is never
    read as an old 4-digit-code number of another length. The caller validates the results.
    """
    results = []
    if len(nsn) == _OLD_MOBILE_LENGTH + MOBILE_SUBSCRIBER:
        new = OLD_MOBILE_PREFIXES.get(nsn[:_OLD_MOBILE_LENGTH])
        if new:
            results.append(new[0] + nsn[_OLD_MOBILE_LENGTH:])
    for size in _OLD_LANDLINE_LENGTHS:
        entry = OLD_LANDLINE_CODES.get(nsn[:size])
        if entry and len(nsn) == size + entry[1]:
            results.append(entry[0] + nsn[size:])
    return results
