"""Property-based tests of the payload mapping and the number normaliser (hypothesis).

Complements test_call_record / test_phone (random keys, random bytes, random numbers): here
any JSON value goes into each known field of an otherwise valid record, and every rejection
must be a specific reason (never the safety net that turns an unexpected exception into a
PayloadError), valid records keep what they carry, and written forms of one number agree.
"""

import calendar
import json
import unittest

from odoo.addons.sentech_vpbx.services import phone
from odoo.addons.sentech_vpbx.services.call_mapping import parse_record
from odoo.addons.sentech_vpbx.services.errors import PayloadError
from odoo.addons.sentech_vpbx.services.webhook_body import parse_body
from odoo.tests import BaseCase, tagged

try:
    import hypothesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - hypothesis is in the dev virtualenv
    hypothesis = None

# reasons of parse_record / parse_body's safety nets: an exception the code did not expect
SAFETY_NETS = (
    "The call record could not be read: %(error)s",
    "The payload could not be read: %(error)s",
)
FIELDS = (
    "transaction_id", "call_uuid", "direction", "source_number", "destination_number",
    "phone_number", "sip_user", "sip_number", "disposition", "duration", "bill_sec",
    "answer_sec", "time_start_call", "time_answer_start", "time_end_call", "created_date",
    "recording_file_url", "user", "customer", "create_by", "state", "hotline", "from_number",
    "to_number", "extension", "users_status", "is_auto_call", "note",
)  # fmt: skip
STATUSES = ("ringing", "in_progress", "answered", "missed", "busy", "failed")
MOBILE_PREFIXES = ("90", "91", "93", "96", "97", "98", "32", "38", "70", "77", "83", "86")
SETTINGS = {
    "deadline": None,
    "database": None,
    # the same examples on every run: CI must not depend on luck (widen locally with a seed)
    "derandomize": True,
    "suppress_health_check": [HealthCheck.too_slow] if hypothesis else [],
}


def _json_values():
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats()
        | st.text(max_size=30)
        | st.sampled_from(["", " ", "\x00", "NaN", "1e999", "-1", "0912345678", "abc"])
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
        max_leaves=8,
    )


@unittest.skipUnless(hypothesis, "hypothesis is not installed")
@tagged("post_install", "-at_install")
class TestPayloadProperties(BaseCase):
    def assertReadOrRejected(self, data):
        """parse_record either maps `data` or rejects it with a specific, readable reason."""
        try:
            record = parse_record(data)
        except PayloadError as error:
            self.assertNotIn(error.reason, SAFETY_NETS, f"unexpected exception: {error}")
            self.assertTrue(str(error).strip())
            return None
        self.assertIn(record.direction, ("inbound", "outbound", "internal"))
        self.assertIn(record.status, STATUSES)
        self.assertIsInstance(record.call_id, str)
        self.assertTrue(record.call_id.strip())
        self.assertLessEqual(len(record.call_id), 255)
        for value in (record.duration, record.talk_duration):
            self.assertTrue(value is None or (isinstance(value, int) and value >= 0), value)
        for value in (record.start_time, record.answer_time, record.end_time):
            self.assertTrue(value is None or value.tzinfo is None)
        for value in (record.customer_number, record.extension, record.hotline):
            self.assertTrue(value is None or (isinstance(value, str) and "\x00" not in value))
        self.assertTrue(
            record.recording_url is None or record.recording_url.startswith(("http://", "https://"))
        )
        return record

    def test_any_json_value_in_any_field(self):
        @settings(max_examples=400, **SETTINGS)
        @given(st.sampled_from(FIELDS), _json_values(), st.text(min_size=1, max_size=40))
        def check(field, value, call_id):
            data = {"transaction_id": call_id, "time_start_call": 1747128857, field: value}
            self.assertReadOrRejected(data)

        check()

    def test_whole_record_of_junk(self):
        @settings(max_examples=300, **SETTINGS)
        @given(st.dictionaries(st.sampled_from(FIELDS), _json_values(), max_size=len(FIELDS)))
        def check(data):
            self.assertReadOrRejected(data)

        check()

    def test_any_top_level_value(self):
        @settings(max_examples=200, **SETTINGS)
        @given(_json_values())
        def check(value):
            record = self.assertReadOrRejected(value)
            if not isinstance(value, dict):
                self.assertIsNone(record, "only an object is a call record")

        check()

    def test_valid_record_keeps_its_values(self):
        @settings(max_examples=300, **SETTINGS)
        @given(
            st.text(
                # no whitespace or control characters: an id of those alone is no id
                alphabet=st.characters(
                    min_codepoint=33,
                    max_codepoint=0x2FFF,
                    blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp"),
                ),
                min_size=1,
                max_size=60,
            ),
            # from 2001-09-09: earlier times in milliseconds read as seconds (MS_THRESHOLD)
            st.integers(min_value=10**9, max_value=4133980799 - 10**6),
            st.integers(min_value=0, max_value=10**5),
            st.sampled_from(["answered", "no_answer", "busy", "cancelled", "failed"]),
            st.booleans(),
        )
        def check(call_id, start, talk, disposition, in_ms):
            data = {
                "transaction_id": call_id,
                "time_start_call": start * 1000 if in_ms else start,
                "time_end_call": start + talk + 5,
                "bill_sec": talk if disposition == "answered" else 0,
                "disposition": disposition,
                "direction": "inbound",
                "phone_number": "0912345678",
            }
            record = self.assertReadOrRejected(data)
            self.assertIsNotNone(record)
            self.assertEqual(record.call_id, call_id.strip())
            self.assertEqual(calendar.timegm(record.start_time.timetuple()), start)
            self.assertTrue(record.is_final)
            self.assertEqual(record.direction, "inbound")
            if disposition == "answered":
                self.assertEqual(record.talk_duration, talk)
            else:
                self.assertNotIn(record.status, ("answered", "in_progress"))
            # the same record as JSON text and as the body of a webhook maps the same way
            (item,) = parse_body(json.dumps(data).encode(), "application/json")
            self.assertEqual(parse_record(item), record)

        check()

    def test_body_of_junk_records(self):
        @settings(max_examples=200, **SETTINGS)
        @given(st.lists(_json_values(), max_size=4), st.sampled_from([None, "application/json"]))
        def check(items, content_type):
            body = json.dumps(items).encode()
            try:
                records = parse_body(body, content_type)
            except PayloadError as error:
                self.assertNotIn(error.reason, SAFETY_NETS, str(error))
                return
            for item in records:
                self.assertIsInstance(item, dict)
                self.assertReadOrRejected(item)

        check()


@unittest.skipUnless(hypothesis, "hypothesis is not installed")
@tagged("post_install", "-at_install")
class TestPhoneProperties(BaseCase):
    def assertKeysWellFormed(self, keys):
        self.assertEqual(len(keys), len(set(keys)))
        for key in keys:
            self.assertRegex(key, r"^\+[1-9]\d{3,16}$")

    def test_any_string_never_raises(self):
        @settings(max_examples=500, **SETTINGS)
        @given(st.text(max_size=200), st.sampled_from(["VN", "US", "", None, "ZZ", "vn"]))
        def check(text, region):
            keys = phone.phone_keys(text, region)
            self.assertKeysWellFormed(keys)
            self.assertIsInstance(phone.format_display(text, region), str)
            national = phone.national_number(text, region)
            self.assertTrue(national is None or isinstance(national, str))
            if not keys:
                # rejected: nothing normalised either
                self.assertIsNone(phone.normalize(text, region))

        check()

    def test_written_forms_agree(self):
        @settings(max_examples=300, **SETTINGS)
        @given(
            st.sampled_from(MOBILE_PREFIXES),
            st.text(alphabet="0123456789", min_size=7, max_size=7),
            st.lists(st.sampled_from([" ", ".", "-", "\u00a0", ""]), min_size=9, max_size=9),
            st.sampled_from(["0", "84", "+84", "+84 ", "(+84) ", "0084"]),
        )
        def check(prefix, subscriber, separators, country):
            digits = prefix + subscriber
            key = "+84" + digits
            written = country + "".join(d + s for d, s in zip(digits, separators, strict=False))
            written += digits[len(separators) :]
            if country == "0084":
                # an international call prefix: not a form the normaliser promises to read
                keys = phone.phone_keys(written)
                self.assertKeysWellFormed(keys)
                return
            self.assertEqual(phone.phone_keys(written)[0], key, written)
            self.assertEqual(phone.normalize(written), key)
            self.assertEqual(phone.phone_keys(key)[0], key)
            self.assertEqual(phone.phone_keys(phone.national_number(written))[0], key)

        check()

    def test_junk_around_digits_is_rejected_or_well_formed(self):
        @settings(max_examples=300, **SETTINGS)
        @given(st.text(alphabet="0123456789", min_size=0, max_size=25), st.text(max_size=8))
        def check(digits, junk):
            for text in (junk + digits, digits + junk, digits[:3] + junk + digits[3:]):
                keys = phone.phone_keys(text)
                self.assertKeysWellFormed(keys)
                if len(digits) < phone.MIN_DIGITS and not any(c.isdigit() for c in junk):
                    self.assertEqual(keys, [], text)

        check()
