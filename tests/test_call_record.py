"""Call payloads -> CallRecord: the mapping shared by webhooks and the history sync."""

import ast
import inspect
import json
import math
import re
import unittest
from datetime import datetime
from urllib.parse import urlencode

from odoo.addons.sentech_vpbx.const import CALLBACK_STATUSES
from odoo.addons.sentech_vpbx.services import call_mapping, webhook_body
from odoo.addons.sentech_vpbx.services.call_mapping import (
    CallMapping,
    CallRecord,
    parse_record,
    records_from_json,
    records_to_json,
)
from odoo.addons.sentech_vpbx.services.errors import PayloadError
from odoo.addons.sentech_vpbx.services.webhook_body import CALL_ID_FIELDS, parse_body
from odoo.tests import BaseCase, tagged

try:
    import hypothesis
except ImportError:  # optional: the property tests are skipped without it
    hypothesis = None

# the history record of docs/pbx-api.md, "Call records"
HISTORY = {
    "transaction_id": "09d43196-6bd4-4b0c-9d0a-2b7c1d6a9f10",
    "direction": "outbound",
    "source_number": "842888806669",
    "destination_number": "0393210914",
    "phone_number": "0393210914",
    "sip_user": "101",
    "sip_number": 842888806669,
    "disposition": "answered",
    "duration": 9,
    "bill_sec": 8,
    "answer_sec": 6,
    "record_seconds": 6,
    "time_start_call": 1747128857,
    "time_ringing_start": 1747128857,
    "time_answer_start": 1747128859,
    "time_end_call": 1747128866,
    "created_date": 1747128866529,
    "last_updated_date": 1747128866529,
    "recording_file_url": "https://rec.example.com/09d43196.mp3",
    "provider": "viettel",
    "user": [{"full_name": "Nguyễn Văn An", "extension": "101"}],
    "customer": {"full_name": "Trần Thị Bình"},
    "create_by": {"full_name": "Nguyễn Văn An"},
    "state": None,
    "call_uuid": None,
}
START = datetime(2025, 5, 13, 9, 34, 17)
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _lt_templates(*modules):
    """The templates marked with ``_lt("...")`` in the source of `modules`."""
    templates = set()
    for module in modules:
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "_lt"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                templates.add(node.args[0].value)
    return frozenset(templates)


#: every reason the body parser and the record mapping may give
REASONS = _lt_templates(webhook_body, call_mapping)


def _id_texts(item):
    """The texts of the call-id fields of a record dict, as a call id is read from them."""
    texts = set()
    for key in CALL_ID_FIELDS:
        value = item.get(key)
        if isinstance(value, str):
            value = value.encode("utf-8", "replace").decode("utf-8")
            texts.add(value.replace("\x00", "").strip())
        elif isinstance(value, int) and not isinstance(value, bool):
            texts.add(str(value))
        elif isinstance(value, float) and math.isfinite(value):
            texts.add(str(int(value)) if value.is_integer() else repr(value))
    return texts - {""}


def _record(**fields):
    return parse_record({"transaction_id": "t1", **fields})


class PayloadErrorAssertions:
    def assertKnownPayloadError(self, error):
        """`error` renders one of the services' templates, its parameters filled in."""
        self.assertIn(error.reason, REASONS, "a reason marked for translation")
        text = str(error)
        self.assertTrue(text.strip(), "a message")
        self.assertNotIn("%(", text, "every placeholder filled")
        self.assertLessEqual(set(_PLACEHOLDER.findall(error.reason)), set(error.params))
        self.assertEqual(text, error.reason % error.params if error.params else error.reason)


@tagged("post_install", "-at_install")
class TestParseRecord(PayloadErrorAssertions, BaseCase):
    def test_history_record(self):
        record = parse_record(HISTORY)
        self.assertIsInstance(record, CallRecord)
        self.assertEqual(record.call_id, HISTORY["transaction_id"])
        self.assertIsNone(record.call_uuid)
        self.assertEqual(record.direction, "outbound")
        self.assertEqual(record.status, "answered")
        self.assertTrue(record.is_final)
        self.assertNotIn(record.status, CALLBACK_STATUSES)
        self.assertEqual(record.customer_number, "0393210914")
        self.assertEqual(record.extension, "101")
        self.assertEqual(record.hotline, "842888806669")  # an int in the payload
        self.assertEqual(record.start_time, START)
        self.assertEqual(record.answer_time, datetime(2025, 5, 13, 9, 34, 19))
        self.assertEqual(record.end_time, datetime(2025, 5, 13, 9, 34, 26))
        self.assertEqual((record.duration, record.talk_duration), (9, 8))
        self.assertEqual(record.recording_url, HISTORY["recording_file_url"])
        self.assertEqual(record.agent_name, "Nguyễn Văn An")
        self.assertEqual(record.customer_name, "Trần Thị Bình")
        # (CallRecord keeps no raw payload any more) the queued form keeps the whole record
        self.assertEqual(records_from_json(records_to_json([record])), [record])

    def test_call_id_fallbacks(self):
        self.assertEqual(parse_record({"call_uuid": "u-1"}).call_id, "u-1")
        self.assertEqual(parse_record({"call_uuid": "u-1"}).call_uuid, "u-1")
        self.assertEqual(parse_record({"transaction_id": "", "uuid": "u-2"}).call_id, "u-2")
        self.assertEqual(parse_record({"id": 42}).call_id, "42")
        record = parse_record({"transaction_id": "t", "call_uuid": "u"})
        self.assertEqual((record.call_id, record.call_uuid), ("t", "u"))

    def test_missing_call_id(self):
        for data in ({}, {"transaction_id": None}, {"transaction_id": "  "}, {"direction": "in"}):
            with self.subTest(data=data), self.assertRaises(PayloadError) as catch:
                parse_record(data)
            self.assertIn("call id", str(catch.exception))
        with self.assertRaises(PayloadError):
            parse_record({"transaction_id": "x" * 300})

    def test_not_an_object(self):
        for data in (None, [], "abc", 5, [HISTORY]):
            with self.subTest(data=data), self.assertRaises(PayloadError):
                parse_record(data)

    def test_wrong_types(self):
        for field, value in (
            ("transaction_id", {"a": 1}),
            ("transaction_id", True),
            ("direction", ["inbound"]),
            ("phone_number", {"number": "0912"}),
            ("duration", [9]),
            ("bill_sec", True),
            ("time_start_call", {"s": 1}),
            ("disposition", ["answered"]),
        ):
            with self.subTest(field=field), self.assertRaises(PayloadError) as catch:
                parse_record({"transaction_id": "t1", field: value})
            error = catch.exception
            if field != "transaction_id" or value is True or isinstance(value, dict):
                self.assertEqual(error.params.get("field"), field)

    def test_inbound(self):
        record = _record(
            direction="inbound",
            source_number="0912345678",
            destination_number="842888806669",
            sip_user="102",
        )
        self.assertEqual(record.direction, "inbound")
        self.assertEqual(record.customer_number, "0912345678")
        self.assertEqual(record.extension, "102")

    def test_outbound_without_phone_number(self):
        record = _record(direction="outbound", from_number="101", to_number=84912345678)
        self.assertEqual(record.customer_number, "84912345678")
        self.assertEqual(record.extension, "101")  # the caller side is an extension

    def test_local_is_internal(self):
        record = _record(direction="local", source_number="101", destination_number="102")
        self.assertEqual(record.direction, "internal")
        self.assertIsNone(record.customer_number)
        self.assertEqual(record.extension, "101")

    def test_direction_inferred(self):
        self.assertEqual(
            _record(source_number="101", destination_number="0912345678").direction, "outbound"
        )
        self.assertEqual(
            _record(source_number="101", destination_number="102").direction, "internal"
        )
        self.assertEqual(
            _record(source_number="0912345678", destination_number="101").direction, "inbound"
        )
        self.assertEqual(_record(direction="sideways").direction, "inbound")
        self.assertEqual(_record().direction, "inbound")
        self.assertEqual(_record(direction=" OUTBOUND ").direction, "outbound")

    def test_extension_fallbacks(self):
        self.assertEqual(_record(extension=103).extension, "103")
        answering = _record(
            users_status=[
                {"extension": "104", "answer_at": None},
                {"extension": "105", "answer_at": 1747128859000},
            ]
        )
        self.assertEqual(answering.extension, "105")
        self.assertEqual(answering.answer_time, datetime(2025, 5, 13, 9, 34, 19))
        self.assertEqual(_record(user=[{"extension": "106", "full_name": "A"}]).extension, "106")
        self.assertEqual(_record(user=[{"extension": "106", "full_name": "A"}]).agent_name, "A")
        # containers of an unexpected type are ignored
        self.assertIsNone(_record(users_status="x", user=5, customer=[1]).extension)

    def test_live_events(self):
        for state, status in (
            ("create", "ringing"),
            ("early", "ringing"),
            ("ringing", "ringing"),
            ("answered", "in_progress"),
        ):
            with self.subTest(state=state):
                record = _record(state=state)
                self.assertFalse(record.is_final)
                self.assertEqual(record.status, status)
                self.assertEqual(record.state, state)
        self.assertEqual(
            _record(state="ringing", time_answer_start=1747128859).status, "in_progress"
        )

    def test_final_events(self):
        for state in ("hangup", "cdr", "HANGUP", None):
            with self.subTest(state=state):
                record = _record(state=state, disposition="answered", bill_sec=5)
                self.assertTrue(record.is_final)
                self.assertEqual(record.status, "answered")
        # a state nobody configured is final once the call visibly ended
        self.assertTrue(_record(state="transfer", disposition="cancelled").is_final)
        self.assertFalse(_record(state="transfer").is_final)

    def test_dispositions(self):
        for disposition, status in (
            ("answered", "answered"),
            ("ANSWERED", "answered"),
            ("cancelled", "missed"),
            ("NO ANSWER", "missed"),
            ("no-answer", "missed"),
            ("busy", "busy"),
            ("failed", "failed"),
            ("congestion", "failed"),
        ):
            with self.subTest(disposition=disposition):
                record = _record(disposition=disposition, bill_sec=0)
                self.assertEqual(record.status, status)
                self.assertEqual(
                    record.is_final and record.status in CALLBACK_STATUSES, status != "answered"
                )
        # the disposition wins over talk time; unknown ones fall back to talk time
        self.assertEqual(_record(disposition="cancelled", bill_sec=30).status, "missed")
        self.assertEqual(_record(disposition="mystery", bill_sec=30).status, "answered")
        self.assertEqual(_record(disposition="mystery", bill_sec=0).status, "missed")
        self.assertEqual(_record(bill_sec="12").status, "answered")
        self.assertEqual(_record().status, "missed")
        self.assertEqual(_record(time_answer_start=1747128859).status, "answered")

    def test_mapping_from_settings(self):
        mapping = CallMapping.from_settings(" OK , Connected ", "gone,  ", "dialing")
        self.assertEqual(mapping.answered_dispositions, ("ok", "connected"))
        self.assertEqual(mapping.missed_dispositions, ("gone",))
        self.assertEqual(mapping.live_states, ("dialing",))
        default = CallMapping.from_settings("", None, False)
        self.assertEqual(default, CallMapping())
        data = {"transaction_id": "t", "disposition": "Connected", "state": "hangup"}
        self.assertEqual(parse_record(data, mapping).status, "answered")
        self.assertEqual(parse_record(data).status, "missed")
        self.assertFalse(
            parse_record({"transaction_id": "t", "state": "dialing"}, mapping).is_final
        )

    def test_timestamps(self):
        for value in (1747128857, 1747128857000, "1747128857", "1747128857000", 1747128857.4):
            with self.subTest(value=value):
                self.assertEqual(_record(time_start_call=value).start_time, START)
        for value in ("2025-05-13T09:34:17Z", "2025-05-13 16:34:17+07:00", "2025-05-13T09:34:17"):
            with self.subTest(value=value):
                self.assertEqual(_record(time_start_call=value).start_time, START)
        for value in (0, None, "", "0", -5, "soon", 10**20, 4200000000, 1e300, float("nan")):
            with self.subTest(value=value):
                self.assertIsNone(_record(time_start_call=value).start_time)

    def test_end_time_and_durations_derived(self):
        record = _record(time_start_call=1747128857, duration=9)
        self.assertEqual(record.end_time, datetime(2025, 5, 13, 9, 34, 26))
        record = _record(
            time_start_call=1747128857, time_answer_start=1747128859, time_end_call=1747128866
        )
        self.assertEqual((record.duration, record.talk_duration), (9, 7))
        self.assertEqual(record.status, "answered")

    def test_durations(self):
        for value, expected in (
            (9, 9),
            (9.6, 10),
            ("9", 9),
            (" 9.0 ", 9),
            (-1, None),
            ("-1", None),
            ("abc", None),
            ("", None),
            (10**12, None),
        ):
            with self.subTest(value=value):
                self.assertEqual(_record(duration=value).duration, expected)

    def test_strings_are_cleaned(self):
        record = _record(phone_number=" 0912\x00345678 ", sip_user=101.0, hotline="")
        self.assertEqual(record.customer_number, "0912345678")
        self.assertEqual(record.extension, "101")
        self.assertIsNone(record.hotline)

    def test_recording_url_must_be_http(self):
        self.assertIsNone(_record(recording_file_url="javascript:alert(1)").recording_url)
        self.assertIsNone(_record(recording_file="rec/123.mp3").recording_url)
        self.assertEqual(
            _record(recording_file="https://r.example/1.mp3").recording_url,
            "https://r.example/1.mp3",
        )

    def test_payload_error_renders(self):
        error = PayloadError("Field %(field)s is bad", field="x")
        self.assertEqual(str(error), "Field x is bad")
        self.assertEqual(error.reason, "Field %(field)s is bad")
        self.assertEqual(error.params, {"field": "x"})
        self.assertEqual(
            error.render(lambda text: text.replace("bad", "mauvais")), "Field x is mauvais"
        )
        self.assertIsInstance(error, ValueError)

    def test_reasons_are_known_templates(self):
        self.assertIn("No call id in the payload (transaction_id or call_uuid)", REASONS)
        self.assertIn("The payload is not valid JSON: %(error)s", REASONS)
        for data in ({}, {"transaction_id": "t", "duration": [9]}, [1], {"id": "x" * 300}):
            with self.subTest(data=data), self.assertRaises(PayloadError) as catch:
                parse_record(data)
            self.assertKnownPayloadError(catch.exception)
        with self.assertRaises(PayloadError) as catch:
            parse_body(b"[1]", "application/json")
        self.assertKnownPayloadError(catch.exception)
        self.assertEqual(
            str(catch.exception), "Record 1 of the payload is a JSON number, not an object"
        )
        # the check itself: an unknown reason, a placeholder left unfilled, an empty message
        for error in (
            PayloadError("Something else went wrong"),
            PayloadError("Field %(field)s holds a JSON %(type)s, which cannot be used here"),
            PayloadError(""),
        ):
            with self.subTest(reason=error.reason), self.assertRaises(AssertionError):
                self.assertKnownPayloadError(error)

    @unittest.skipUnless(hypothesis, "hypothesis is not installed")
    def test_property_any_json_record(self):
        from hypothesis import HealthCheck, given, settings
        from hypothesis import strategies as st

        scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
        values = st.recursive(
            scalars,
            lambda inner: st.lists(inner, max_size=3)
            | st.dictionaries(st.text(max_size=8), inner, max_size=3),
            max_leaves=10,
        )
        keys = st.sampled_from([*sorted(HISTORY), "extension", "users_status", "to_number"])
        records = st.dictionaries(keys | st.text(max_size=8), values, max_size=12)

        @settings(
            max_examples=300,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(records)
        def check(data):
            try:
                record = parse_record(data)
            except PayloadError as error:
                self.assertKnownPayloadError(error)
                return
            self.assertIn(record.direction, ("inbound", "outbound", "internal"))
            self.assertIn(
                record.status, ("ringing", "in_progress", "answered", "missed", "busy", "failed")
            )
            for value in (record.start_time, record.answer_time, record.end_time):
                self.assertTrue(value is None or value.tzinfo is None)

        check()


@tagged("post_install", "-at_install")
class TestParseBody(PayloadErrorAssertions, BaseCase):
    def test_json_object_and_list(self):
        self.assertEqual(
            parse_body(b'{"transaction_id": "a"}', "application/json"), [{"transaction_id": "a"}]
        )
        body = json.dumps([HISTORY, {"call_uuid": "b"}]).encode()
        self.assertEqual(len(parse_body(body, None)), 2)
        self.assertEqual(parse_body(b"[]", "application/json"), [])
        bom = b'\xef\xbb\xbf {"transaction_id": "a"} \n'
        self.assertEqual(
            parse_body(bom, "application/json; charset=utf-8")[0]["transaction_id"], "a"
        )

    def test_envelope_unwrapped(self):
        body = json.dumps({"status_code": 9999, "payload": {"items": [HISTORY], "has_next": False}})
        self.assertEqual(parse_body(body.encode(), "application/json"), [HISTORY])
        self.assertEqual(parse_body(b'{"data": {"call_uuid": "u"}}', None), [{"call_uuid": "u"}])

    def test_form_flat(self):
        body = urlencode({"transaction_id": "a", "phone_number": "+84912345678", "duration": "9"})
        (data,) = parse_body(body.encode(), "application/x-www-form-urlencoded")
        self.assertEqual(data["phone_number"], "+84912345678")
        record = parse_record(data)
        self.assertEqual((record.call_id, record.duration), ("a", 9))

    def test_form_with_json_field(self):
        body = urlencode({"data": json.dumps(HISTORY), "event": "call"}).encode()
        (data,) = parse_body(body, "application/x-www-form-urlencoded; charset=UTF-8")
        self.assertEqual(data["transaction_id"], HISTORY["transaction_id"])
        self.assertEqual(data["event"], "call")
        body = urlencode({"transaction_id": "a", "user": '[{"extension": "107"}]'}).encode()
        self.assertEqual(parse_record(parse_body(body, None)[0]).extension, "107")
        with self.assertRaises(PayloadError):
            parse_body(b"data=%7Bbroken", "application/x-www-form-urlencoded")

    def test_errors(self):
        deep_ok = {"transaction_id": "a"}
        for _level in range(31):
            deep_ok = {"n": deep_ok}
        self.assertEqual(len(parse_body(json.dumps(deep_ok).encode(), None)), 1)
        too_deep = json.dumps({"n": deep_ok}).encode()
        many = json.dumps([{"transaction_id": str(n)} for n in range(1001)]).encode()
        exactly = json.dumps([{"call_uuid": str(n)} for n in range(1000)]).encode()
        self.assertEqual(len(parse_body(exactly, None)), 1000)
        for body, content_type, reason in (
            (b"", None, "empty"),
            (b"  \n ", "application/json", "empty"),
            (None, None, "empty"),
            (b"\xff\xfe\x00", None, "UTF-8"),
            (b"data=%ff%fe", "application/x-www-form-urlencoded", "UTF-8"),
            (b'{"transaction_id": ', "application/json", "JSON"),
            (b'{"a": NaN}', "application/json", "JSON"),
            (b"just text", "text/plain", "JSON"),
            (b"42", None, "number"),
            (b'"call"', None, "string"),
            (b'[{"transaction_id": "a"}, 3]', None, "Record 2"),
            (too_deep, None, "deeper"),
            (b"[" * 100000 + b"]" * 100000, None, "deeper"),
            (many, None, "1001"),
        ):
            with (
                self.subTest(body=body[:40] if body else body),
                self.assertRaises(PayloadError) as catch,
            ):
                parse_body(body, content_type)
            self.assertIn(reason, str(catch.exception))

    @unittest.skipUnless(hypothesis, "hypothesis is not installed")
    def test_property_any_bytes(self):
        from hypothesis import HealthCheck, given, settings
        from hypothesis import strategies as st

        content_types = st.sampled_from(
            [None, "application/json", "application/x-www-form-urlencoded", "text/plain"]
        )

        @settings(
            max_examples=300,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode), content_types)
        def check(body, content_type):
            try:
                records = parse_body(body, content_type)
            except PayloadError as error:
                self.assertKnownPayloadError(error)
                return
            self.assertTrue(all(isinstance(item, dict) for item in records))
            for item in records:
                try:
                    record = parse_record(item)
                except PayloadError as error:
                    self.assertKnownPayloadError(error)
                    continue
                self.assertIsInstance(record, CallRecord)
                self.assertIn(record.call_id, _id_texts(item))

        check()
