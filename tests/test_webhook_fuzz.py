"""HTTP fuzz of POST /vpbx/webhook/<token>: hundreds of malformed bodies, never a 500.

Bodies: a hand-written list (injection strings, invalid UTF-8, truncated JSON, deep nesting,
huge strings, wrong content types, form junk, ...) plus bodies generated from a fixed seed.
For each one the answer must be one of the documented ones and agree with the database:
400 = stored as a rejected event, no call; 403/413 = nothing stored; 200 = stored and the body
really holds call records (checked with the addon's own parser), calls only for its ids.
"""

import json
import random
import string

from odoo.addons.sentech_vpbx.services.call_mapping import parse_record
from odoo.addons.sentech_vpbx.services.errors import PayloadError
from odoo.addons.sentech_vpbx.services.webhook_body import parse_body
from odoo.tests import HttpCase, tagged

from .common import make_pbx

SEED = 20250913
GENERATED = 220
INJECTIONS = (
    "'; DROP TABLE vpbx_call; --",
    "1' OR '1'='1",
    '" OR 1=1 --',
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "javascript:alert(1)",
    "../../../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "%00",
    "\x00",
    "a\x00b",
    "${jndi:ldap://127.0.0.1/a}",
    "{{7*7}}",
    "%s%s%s%n",
    "\u202e\u0000\ufeff",
    "\ud800",
)
JUNK_VALUES = [
    None, True, False, 0, -1, 2**63, 1e308, -0.0, "", " ", [], {}, [[]], {"a": {}},
    "9" * 5000, *INJECTIONS,
]  # fmt: skip
CONTENT_TYPES = (
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "application/xml",
    "application/x-www-form-urlencoded",
    "application/octet-stream",
    "",
    "multipart/form-data; boundary=xyz",
    "application/json; charset=latin-1",
)
CALL_FIELDS = (
    "transaction_id", "call_uuid", "direction", "phone_number", "sip_user", "disposition",
    "duration", "time_start_call", "user", "customer", "state",
)  # fmt: skip


def _hand_written():
    """(body bytes, content type) written by hand."""
    deep = "[" * 40 + "]" * 40
    deep_obj = '{"transaction_id": "x", "n": ' + '{"a": ' * 40 + "1" + "}" * 40 + "}"
    bodies = [
        (b"", "application/json"),
        (b"   ", "application/json"),
        (b"null", "application/json"),
        (b"true", "application/json"),
        (b"42", "application/json"),
        (b'"transaction_id"', "application/json"),
        (b"[]", "application/json"),
        (b"{}", "application/json"),
        (b'{"transaction_id": ', "application/json"),
        (b'{"transaction_id": "a"', "application/json"),
        (b'{"transaction_id": "a",}', "application/json"),
        (b"{'transaction_id': 'a'}", "application/json"),
        (b'{"transaction_id": NaN}', "application/json"),
        (b'{"transaction_id": Infinity}', "application/json"),
        (b'{"transaction_id": null}', "application/json"),
        (b'{"transaction_id": ""}', "application/json"),
        (b'{"transaction_id": []}', "application/json"),
        (b'{"transaction_id": {}}', "application/json"),
        (b'{"transaction_id": true}', "application/json"),
        (b'{"transaction_id": "a", "duration": {"x": 1}}', "application/json"),
        (b'{"transaction_id": "a", "direction": [1, 2]}', "application/json"),
        (b'{"call_uuid": false}', "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b'[{"transaction_id": "a"}, "junk"]', "application/json"),
        (b'[null, {"transaction_id": "b"}]', "application/json"),
        (deep.encode(), "application/json"),
        (deep_obj.encode(), "application/json"),
        (b"[" * 50000 + b"]" * 50000, "application/json"),
        (b"\xff\xfe\xfd", "application/json"),
        (b'{"transaction_id": "\xc3\x28"}', "application/json"),
        (b"\xed\xa0\x80", "text/plain"),
        (b'{"transaction_id": "\\ud800"}', "application/json"),
        (b"\x00\x00\x00", "application/octet-stream"),
        (b"<?xml version='1.0'?><call><id>1</id></call>", "application/xml"),
        (b"<html><script>alert(1)</script></html>", "text/html"),
        (b"transaction_id=", "application/x-www-form-urlencoded"),
        (b"=&=&&&", "application/x-www-form-urlencoded"),
        (b"data=%7Bbroken", "application/x-www-form-urlencoded"),
        (b"data=%ff%fe", "application/x-www-form-urlencoded"),
        (b"a=" + b"x" * 200000, "application/x-www-form-urlencoded"),
        (
            b"--xyz\r\nContent-Disposition: form-data\r\n\r\njunk",
            "multipart/form-data; boundary=xyz",
        ),
        (b"junk without boundary", "multipart/form-data"),
        (json.dumps({"transaction_id": "x" * 300000}).encode(), "application/json"),
        (json.dumps({"payload": {"items": [1, 2]}}).encode(), "application/json"),
        (json.dumps({"data": "not an object"}).encode(), "application/json"),
        (json.dumps([{"n": i} for i in range(1001)]).encode(), "application/json"),
        (b"1" * 5000, "application/json"),
        (b"-" * 100, "text/plain"),
        (b'{"transaction_id": "a"}' * 3, "application/json"),
    ]
    for text in INJECTIONS:
        raw = text.encode("utf-8", "surrogatepass")
        bodies.append((raw, "application/json"))
        bodies.append((json.dumps({"phone_number": text, "sip_user": text}).encode(), "text/plain"))
        bodies.append((b"transaction_id=&phone_number=" + raw, "application/x-www-form-urlencoded"))
    return bodies


def _json_junk(rng, depth=0):
    kind = rng.randrange(7 if depth < 4 else 4)
    if kind == 0:
        return rng.choice(JUNK_VALUES)
    if kind == 1:
        return "".join(rng.choice(string.printable) for _ in range(rng.randrange(30)))
    if kind == 2:
        return rng.randint(-(10**20), 10**20)
    if kind == 3:
        return rng.random() * 10 ** rng.randrange(-5, 300)
    if kind == 4:
        return [_json_junk(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = [*CALL_FIELDS, "x", "payload", "data", ""]
    return {rng.choice(keys): _json_junk(rng, depth + 1) for _ in range(rng.randrange(5))}


def _generated(count, seed=SEED):
    """Deterministic junk: JSON of junk, truncated or corrupted JSON, bytes, forms."""
    rng = random.Random(seed)
    bodies = []
    for _ in range(count):
        ctype = rng.choice(CONTENT_TYPES)
        kind = rng.randrange(6)
        value = _json_junk(rng)
        if kind == 0:  # a record whose id is junk too (no usable call id most of the time)
            value = {
                "transaction_id": rng.choice(JUNK_VALUES),
                **(value if isinstance(value, dict) else {}),
            }
        text = json.dumps(value)
        if kind == 1 and len(text) > 1:  # truncated
            text = text[: rng.randrange(1, len(text))]
        body = text.encode()
        if kind == 2:  # random bytes
            body = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        elif kind == 3:  # a byte flipped
            raw = bytearray(body or b"x")
            raw[rng.randrange(len(raw))] = rng.randrange(128, 256)
            body = bytes(raw)
        elif kind == 4:  # a form of junk
            pairs = [
                (rng.choice((*CALL_FIELDS, "", "data")), str(rng.choice(JUNK_VALUES)))
                for _ in range(rng.randrange(4))
            ]
            body = "&".join(f"{k}={v}" for k, v in pairs).encode("utf-8", "surrogatepass")
        bodies.append((body, ctype))
    return bodies


def _readable(body, content_type):
    """True when the addon's parser finds at least one valid call record in the body."""
    try:
        items = parse_body(body, content_type)
        return bool(items) and all(parse_record(item) for item in items)
    except PayloadError:
        return False


@tagged("post_install", "-at_install")
class TestWebhookFuzz(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.pbx = make_pbx(cls.env, missed_call_user_id=False, post_call_note=False)
        cls.token = cls.pbx.sudo().webhook_token
        cls.Call = cls.env["vpbx.call"].sudo()
        cls.Event = cls.env["vpbx.webhook.event"].sudo()

    def post(self, body, content_type, token=None):
        headers = {"Content-Type": content_type} if content_type else {}
        # (url_open sends a GET when the body is empty)
        return self.opener.post(
            f"{self.base_url()}/vpbx/webhook/{token or self.token}",
            data=body,
            headers=headers,
            timeout=60,
        )

    def counts(self):
        self.env.invalidate_all()
        return self.Call.search_count([]), self.Event.search_count([])

    def test_fuzz(self):
        bodies = _hand_written() + _generated(GENERATED)
        self.assertGreaterEqual(len(bodies), 250)
        outcomes = {}
        for index, (body, ctype) in enumerate(bodies):
            with self.subTest(index=index, body=body[:60], content_type=ctype):
                calls_before, events_before = self.counts()
                response = self.post(body, ctype)
                status = response.status_code
                outcomes[status] = outcomes.get(status, 0) + 1
                self.assertIn(status, (200, 400, 413), response.text[:300])
                self.assertEqual(response.headers["Content-Type"].split(";")[0], "application/json")
                answer = response.json()
                calls_after, events_after = self.counts()
                if status == 413:
                    self.assertEqual((calls_after, events_after), (calls_before, events_before))
                    continue
                self.assertEqual(events_after, events_before + 1, "stored once")
                event = self.Event.browse(answer["event_id"])
                self.assertEqual(event.pbx_id, self.pbx)
                if status == 400:
                    self.assertEqual(event.state, "rejected")
                    self.assertTrue(event.error)
                    self.assertEqual(calls_after, calls_before, "no call from an invalid body")
                else:
                    self.assertIn(event.state, ("processed", "ignored"))
                    # only a body that really holds call records gets a call
                    self.assertTrue(_readable(event.body.encode(), event.content_type))
                    ids = {c.strip() for c in (event.vpbx_call_id or "").split(",")}
                    self.assertTrue(set(event.call_ids.mapped("vpbx_call_id")) <= ids)
        self.assertGreater(outcomes.get(400, 0), 200, outcomes)

    def test_refused_bodies_store_nothing(self):
        before = self.counts()
        for token in ("wrong", "x" * 300, "%00", "..%2F..%2Fetc", self.token[:-1]):
            for body, ctype in _hand_written()[:8]:
                with self.subTest(token=token, body=body[:30]):
                    response = self.post(body, ctype, token=token)
                    self.assertIn(response.status_code, (403, 404), response.text[:200])
        too_big = b'{"transaction_id": "' + b"x" * (1024 * 1024 + 10) + b'"}'
        for ctype in ("application/json", "application/x-www-form-urlencoded", "text/plain"):
            with self.subTest(content_type=ctype):
                response = self.post(too_big, ctype)
                self.assertEqual(response.status_code, 413)
        self.assertEqual(self.counts(), before)
