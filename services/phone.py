"""Phone numbers -> canonical E.164 keys, old Vietnamese numbers included.

Plain Python (no Odoo import), built on ``phonenumbers`` plus the renumbering tables of
``vn_renumbering``. Contacts and calls are matched on these keys, so every written form of one
line must give the same key: ``0912 345 678``, ``+84 912 345 678``, ``84912345678``,
``0084912345678``, ``(+84) 912345678``... and an old form must give its current number
(``0168 345 6789`` -> ``+84383456789``, ``(08) 3823 4567`` -> ``+842838234567``).

Order of the keys
    The modern reading comes first whenever the digits are a valid number today; a reading in
    the old plans is appended only when the digits fit an old pattern exactly (old prefix or area
    code *and* the old total length) and the converted number is valid today. ``normalize`` is
    therefore always today's meaning of the digits, and the contact lookup can prefer contacts
    matched on a first key over contacts matched on a second one.

Collisions between the old and the new plans (checked against the two tables and the
``phonenumbers`` metadata, 2025):
    - ``08`` + 8 digits (old TP. Hồ Chí Minh) has the ten digits of a modern ``08x`` mobile:
      ``08 3823 4567`` gives ``['+84838234567', '+842838234567']`` (mobile first).
    - The same holds for every old three-digit area code that is a mobile prefix today, with a
      7-digit subscriber (10 digits in all, like a mobile): 030 Ninh Bình, 031 Hải Phòng,
      033 Quảng Ninh, 036 Thái Bình, 037 Thanh Hóa, 038 Nghệ An, 039 Hà Tĩnh, 056 Bình Định,
      058 Khánh Hòa, 059 Gia Lai, 070 Vĩnh Long, 076 An Giang, 077 Kiên Giang, 079 Sóc Trăng,
      and partly 052 Quảng Bình (0522/0523/0528...), 055 Quảng Ngãi (0559...) and 067 Đồng Tháp
      (0672...): both keys, modern mobile first.
    - Old four-digit codes 0240/0241 (Bắc Giang, Bắc Ninh) and 0280/0281 (Thái Nguyên, Bắc Kạn)
      with 7 digits look like today's 024/028 (Hà Nội, TP. HCM) + 8 digits starting with 0 or 1;
      those ranges are not valid today, so only the old reading is kept. Should they become valid,
      the rule above yields both keys without a code change.
    - Old ``04`` + 8 digits (Hà Nội) collides with nothing; an old 2-digit code of 9 digits in all
      (``022 123 4567``, Sơn La) never matches a modern 11-digit landline because the lengths
      differ, and old codes 0320/0321/0350/0351/05xx/07xx are 11 digits, never a 10-digit mobile.
    - Old mobile ``01xx`` numbers (NSN ``1xx`` + 7 digits) are not valid today (1800/1900
      service numbers are 8 or 10 digits starting 18/19, none of the old prefixes), so they only
      have their converted key.

Robustness: anything that is not a usable number (None, non-str, '', '101', letters, garbage)
gives ``[]``; no exception escapes. Text before the number (``tel:``, ``Tel:``) is skipped, and
the number ends at the first letter or separator (``;ext=12``, `` ext 12``, ``#12``, ``, ``,
``/``) so a second number or an extension never leaks into the key.
"""

import functools
import logging
import unicodedata

import phonenumbers
from phonenumbers import PhoneNumber, PhoneNumberFormat

from .vn_renumbering import old_readings

_logger = logging.getLogger(__name__)

DEFAULT_REGION = "VN"
VN_CODE = "84"
#: Longer inputs are cut before parsing (phonenumbers itself refuses 250+ characters).
MAX_INPUT = 128
#: E.164 allows 15 digits; an international prefix ("00") adds two.
MAX_DIGITS = 17
MIN_DIGITS = 4
_SEPARATORS = frozenset(" -.()\t\u00a0")
_CACHE_SIZE = 16384


def _clean(text):
    """Return (has_plus, digits, written) for the first number in ``text``, or None."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
        text = "".join(
            str(unicodedata.decimal(char)) if char.isdecimal() else char for char in text
        )
    start = None
    for index, char in enumerate(text):
        if char == "+" or "0" <= char <= "9":
            start = index
            break
    if start is None:
        return None
    has_plus = text[start] == "+"
    digits = []
    end = len(text)
    for index in range(start + has_plus, len(text)):
        char = text[index]
        if "0" <= char <= "9":
            digits.append(char)
        elif char not in _SEPARATORS:
            end = index  # a letter, ';', ',', '#', a second '+': the number stops here
            break
    digits = "".join(digits)
    if not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        return None
    return has_plus, digits, text[start:end]


def _valid_vn(nsn):
    if not nsn or nsn[0] == "0" or not 7 <= len(nsn) <= 11:
        return False
    return phonenumbers.is_valid_number(PhoneNumber(country_code=84, national_number=int(nsn)))


def _vn_keys(nsn):
    """Keys of a Vietnamese national significant number: modern reading first, then old ones."""
    keys = []
    if _valid_vn(nsn):
        keys.append("+84" + nsn)
    for new in old_readings(nsn):
        key = "+84" + new
        if key not in keys and _valid_vn(new):
            keys.append(key)
    return tuple(keys)


def _strip_trunk(nsn):
    """'+84 (0) 912...' and '84 0912...' carry a stray trunk 0 after the country code."""
    return nsn[1:] if nsn.startswith("0") else nsn


def _international_keys(digits):
    """Keys of a number written with its country code (after '+' or '00')."""
    if digits.startswith(VN_CODE):
        return _vn_keys(_strip_trunk(digits[2:]))
    try:
        parsed = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return ()
    return _foreign_keys(parsed)


def _foreign_keys(parsed):
    if parsed.country_code == 84:
        return _vn_keys(str(parsed.national_number))
    if phonenumbers.is_valid_number(parsed):
        return (phonenumbers.format_number(parsed, PhoneNumberFormat.E164),)
    return ()


def _national_vn_keys(digits):
    if digits.startswith("0"):
        return _vn_keys(digits[1:])
    if digits.startswith(VN_CODE) and len(digits) >= 10:
        # '84912345678' as the PBX writes it: no national number starts with 84 and is that long
        return _vn_keys(_strip_trunk(digits[2:]))
    return _vn_keys(digits)  # national number written without the trunk 0


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _keys(text, region):
    cleaned = _clean(text)
    if cleaned is None:
        return ()
    has_plus, digits, written = cleaned
    if has_plus:
        return _international_keys(digits)
    if region == DEFAULT_REGION:
        if digits.startswith("00"):
            return _international_keys(digits[2:])
        return _national_vn_keys(digits)
    try:
        keys = _foreign_keys(phonenumbers.parse(written, region))
    except phonenumbers.NumberParseException:
        keys = ()
    if not keys and digits.startswith(VN_CODE) and len(digits) >= 10:
        keys = _international_keys(digits)  # the PBX's '842888806669' seen from abroad
    return keys


def _region(region):
    """ISO region code to parse with; anything unknown (None, False, 'XX', a list) is Vietnam."""
    return _known_region(region) if isinstance(region, str) and region else DEFAULT_REGION


@functools.lru_cache(maxsize=256)
def _known_region(region):
    region = region.strip().upper()
    return region if region in phonenumbers.SUPPORTED_REGIONS else DEFAULT_REGION


def phone_keys(number, region=DEFAULT_REGION):
    """Canonical E.164 keys for any written number, modern form first, no duplicates.

    ``[]`` when the input is not a usable phone number; never raises. ``region`` (ISO code,
    e.g. the company's country) applies to numbers written without an international prefix;
    an unknown or empty region means Vietnam.
    """
    if not isinstance(number, str) or not number:
        return []
    try:
        return list(_keys(number[:MAX_INPUT], _region(region)))
    except Exception:  # a metadata or library surprise must not break a contact write
        _logger.debug("phone_keys failed on %r", number, exc_info=True)
        return []


def normalize(number, region=DEFAULT_REGION):
    """The first (modern) key, or None."""
    keys = phone_keys(number, region)
    return keys[0] if keys else None


def national_number(number, region=DEFAULT_REGION):
    """'0912345678' (digits with the trunk 0) for a Vietnamese number, E.164 otherwise.

    Service numbers (1800/1900...) are dialled without a trunk 0 and come back as written.
    """
    key = normalize(number, region)
    if key and key.startswith("+84"):
        return key[3:] if key.startswith("+841") else "0" + key[3:]
    return key


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _display(key, region):
    parsed = phonenumbers.parse(key, None)
    if parsed.country_code == 84 or phonenumbers.region_code_for_number(parsed) == region:
        return phonenumbers.format_number(parsed, PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(parsed, PhoneNumberFormat.INTERNATIONAL)


def format_display(number, region=DEFAULT_REGION):
    """Human form ('0912 345 678', '028 3823 4567', '+1 650-253-0000'), modern number.

    Vietnamese numbers are written nationally, foreign ones internationally unless they belong
    to ``region``. Unparseable input comes back stripped ('' for None).
    """
    key = normalize(number, region)
    if key:
        try:
            return _display(key, _region(region))
        except Exception:
            _logger.debug("format_display failed on %r", number, exc_info=True)
            return key
    if isinstance(number, str):
        return number.strip()
    if number is None or isinstance(number, bool):
        return ""
    return str(number).strip() if isinstance(number, int | float) else ""
