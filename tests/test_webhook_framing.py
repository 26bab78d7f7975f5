"""The webhook body as the PBX sent it: form bodies decoded strictly from their bytes (issue #19,
item 3), and a body the sender broke off answered 400 and kept, never a 5xx (item 4).

Item 4 is tested on raw sockets: hand-written HTTP/1.1 requests whose framing is broken (bad
chunk-size line, truncated chunk, fewer bytes than the Content-Length, a connection reset in
the middle of the body).
"""

import base64
import json
import logging
import socket
import struct
import threading
from unittest.mock import patch
from urllib.parse import urlencode

from odoo.tests import tagged
from odoo.tools import mute_logger

from ..controllers import webhook
from .common import VpbxWebhookCommon, call_payload

CONTROLLER_LOGGER = "odoo.addons.sentech_vpbx.controllers.webhook"
FORM = "application/x-www-form-urlencoded"


def form_body(call_id, **fields):
    """A form-encoded finished call whose ``transaction_id`` is `call_id` as given (bytes,
    already percent-encoded or not)."""
    payload = call_payload("unused", **fields)
    del payload["transaction_id"]
    return b"transaction_id=" + call_id + b"&" + urlencode(payload).encode()


@tagged("post_install", "-at_install")
class TestWebhookFormUtf8(VpbxWebhookCommon):
    """Item 3: Odoo's form parser turned bytes that are not UTF-8 into U+FFFD, so that
    ``T-U8%FF`` and ``T-U8%FE`` were stored as one call ``T-U8\ufffd``."""

    def post_form(self, body, content_type=FORM):
        response = self.url_open(
            f"/vpbx/webhook/{self.token}", data=body, headers={"Content-Type": content_type}
        )
        self.env.invalidate_all()
        return response

    def assert_rejected(self, response, reason):
        self.assertEqual(response.status_code, 400, response.text[:300])
        answer = response.json()
        self.assertEqual(answer["status"], "rejected")
        event = self.Event.browse(answer["event_id"])
        self.assertEqual(event.state, "rejected")
        self.assertIn(reason, event.error)
        self.assertEqual(answer["error"], event.error)
        self.assertFalse(event.call_ids)
        return event

    def test_percent_encoded_bytes_refused_not_merged(self):
        bodies = [form_body(b"T-U8%FF"), form_body(b"T-U8%fe"), form_body(b"T-U8%C3%28")]
        events = self.Event
        for body in bodies:
            event = self.assert_rejected(self.post_form(body), "transaction_id")
            self.assertIn("UTF-8", event.error)
            # the body as sent, byte for byte
            self.assertEqual(event.body.encode(), body)
            self.assertEqual(event.content_type, FORM)
            events |= event
        self.assertEqual(len(events), 3, "three deliveries, three events")
        self.assertFalse(
            self.Call.search([("pbx_id", "=", self.pbx.id), ("vpbx_call_id", "like", "T-U8")]),
            "no call from a refused body, let alone one call for two ids",
        )
        # a field name that is not UTF-8 is refused too, and named as sent
        event = self.assert_rejected(self.post_form(form_body(b"T-U8N") + b"&n%FF=1"), "n%FF")
        self.assertTrue(event.body.endswith("&n%FF=1"))

    def test_bare_bytes_refused_not_merged(self):
        """Bytes sent without percent-encoding: the body itself is not UTF-8. Body shows U+FFFD,
        the bytes are kept as received, and a replay reads those, not Body."""
        events = self.Event
        bodies = [
            form_body(b"T-U8B\xff"),
            form_body(b"T-U8B\xfe"),
            b'{"transaction_id": "T-U8B\xff", "phone_number": "0912345678"}',
        ]
        for body in bodies:
            content_type = FORM if body.startswith(b"transaction_id") else "application/json"
            event = self.assert_rejected(self.post_form(body, content_type), "UTF-8")
            self.assertEqual(event.body, body.decode("utf-8", "replace"))
            self.assertEqual(base64.b64decode(event.body_raw), body, "byte for byte")
            events |= event
        self.assertEqual(events[0].body, events[1].body, "Body alone cannot tell them apart")
        events.action_vpbx_replay()
        self.assertEqual(set(events.mapped("state")), {"rejected"})
        self.assertFalse(
            self.Call.search([("pbx_id", "=", self.pbx.id), ("vpbx_call_id", "like", "T-U8B")])
        )
        # a body that is UTF-8 keeps no copy
        response = self.post_form(form_body(b"T-U8B-OK"))
        self.assertFalse(self.Event.browse(response.json()["event_id"]).body_raw)

    def test_utf8_form_fields_kept(self):
        url = "https://rec.example.com/Nguyễn Văn An.mp3"
        encoded = form_body(b"T-U8OK1", recording_file_url=url)
        response = self.post_form(encoded)
        self.assertEqual(response.status_code, 200, response.text[:300])
        self.assertEqual(self.calls("T-U8OK1").recording_url, url)
        # UTF-8 sent without percent-encoding is UTF-8 all the same
        url = "https://rec.example.com/ễ.mp3"
        raw = form_body(b"T-U8OK2", recording_file_url=None) + f"&recording_url={url}".encode()
        response = self.post_form(raw)
        self.assertEqual(response.status_code, 200, response.text[:300])
        self.assertEqual(self.Event.browse(response.json()["event_id"]).body.encode(), raw)
        self.assertEqual(self.calls("T-U8OK2").recording_url, url)

    def test_multipart(self):
        fields = {key: (None, str(value)) for key, value in call_payload("T-U8MP").items()}
        response = self.url_open(f"/vpbx/webhook/{self.token}", files=fields)
        self.env.invalidate_all()
        self.assertEqual(response.status_code, 200, response.text[:300])
        event = self.Event.browse(response.json()["event_id"])
        self.assertTrue(event.content_type.startswith("multipart/form-data; boundary="))
        self.assertIn('name="transaction_id"', event.body, "stored as sent")
        self.assertEqual(self.calls("T-U8MP").talk_duration, 60)
        # replayed from the stored body
        event.action_vpbx_replay()
        self.assertEqual(event.state, "processed")
        for call_id in (b"T-U8MP\xff", b"T-U8MP\xfe"):
            fields["transaction_id"] = (None, call_id)
            response = self.url_open(f"/vpbx/webhook/{self.token}", files=fields)
            self.env.invalidate_all()
            self.assert_rejected(response, "UTF-8")
        self.assertEqual(len(self.Call.search([("vpbx_call_id", "like", "T-U8MP")])), 1)


@tagged("post_install", "-at_install")
class TestWebhookFraming(VpbxWebhookCommon):
    """Item 4: a body the sender broke off is its fault: 400 (when it still listens), stored as
    rejected with what arrived, an INFO line without the body, no ERROR, no traceback."""

    def request_head(self, headers, content_type="application/json"):
        lines = [
            f"POST /vpbx/webhook/{self.token} HTTP/1.1",
            f"Host: 127.0.0.1:{self.http_port()}",
            f"Content-Type: {content_type}",
            *headers,
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.http_port()), timeout=30)

    def exchange(self, data):
        """Send `data`, close our side (the body ends there) and read the whole answer:
        ``(status, JSON answer or None)``."""
        with self.connect() as sock:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        if not answer:  # closed without an answer
            return None, None
        head, _, body = answer.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        try:
            return status, json.loads(body)
        except ValueError:
            return status, None

    def assert_broken_off(self, data, sent_body, reason, content_type="application/json"):
        """Post `data` (head and broken body) on a raw socket: 400, rejected, kept, no ERROR."""
        with (
            self.assertNoLogs(level=logging.ERROR),
            self.assertLogs(CONTROLLER_LOGGER, logging.INFO) as logs,
        ):
            status, answer = self.exchange(data)
            self.assertEqual(status, 400, answer)
            self._wait_remaining_requests()
        self.env.invalidate_all()
        self.assertEqual(answer["status"], "rejected")
        event = self.Event.browse(answer["event_id"])
        self.assertEqual(event.state, "rejected")
        self.assertIn(reason, event.error)
        self.assertEqual(event.content_type, content_type)
        self.assertTrue(sent_body.startswith(event.body.encode()), "what arrived is kept")
        self.assertFalse(event.call_ids)
        self.assertIn("broken off by the sender", logs.output[0])
        self.assertNotIn("T-FRAME", "".join(logs.output), "the body is not logged")
        return event

    def test_content_length_longer_than_body(self):
        body = json.dumps(call_payload("T-FRAME-CL")).encode()
        head = self.request_head([f"Content-Length: {len(body) + 100}"])
        event = self.assert_broken_off(head + body, body, f"of the {len(body) + 100} bytes")
        self.assertEqual(event.body.encode(), body, "every byte that arrived")
        self.assertIn(f"after {len(body)} of", event.error)
        self.assertFalse(self.calls("T-FRAME-CL"))

    def test_broken_chunk_size_line(self):
        body = json.dumps(call_payload("T-FRAME-CH")).encode()
        head = self.request_head(["Transfer-Encoding: chunked"])
        first, rest = body[:20], body[20:]
        chunked = b"%x\r\n%s\r\nzz-not-hex\r\n%s\r\n0\r\n\r\n" % (len(first), first, rest)
        self.assert_broken_off(head + chunked, body, "Invalid chunk header")
        self.assertFalse(self.calls("T-FRAME-CH"))
        # a form body takes the same path (Odoo's form parser used to answer it with a 500)
        form = form_body(b"T-FRAME-FORM")
        head = self.request_head(["Transfer-Encoding: chunked"], content_type=FORM)
        chunked = b"%x\r\n%s\r\n;;\r\n" % (len(form) // 2, form[: len(form) // 2])
        self.assert_broken_off(head + chunked, form, "chunked", content_type=FORM)

    def test_truncated_chunk(self):
        body = json.dumps(call_payload("T-FRAME-TR")).encode()
        head = self.request_head(["Transfer-Encoding: chunked"])
        chunked = b"%x\r\n%s" % (len(body), body[:30])  # then the sender closes
        self.assert_broken_off(head + chunked, body, "chunked")
        self.assertFalse(self.calls("T-FRAME-TR"))

    def test_connection_reset_mid_body(self):
        """The sender is gone: nobody to answer, but what arrived is stored and nothing is
        logged as an error."""
        body = json.dumps(call_payload("T-FRAME-RST")).encode()
        head = self.request_head([f"Content-Length: {len(body)}", "Expect: 100-continue"])
        before = self.Event.search_count([])
        with (
            self.assertNoLogs(level=logging.ERROR),
            self.assertLogs(CONTROLLER_LOGGER, logging.INFO) as logs,
        ):
            # the reset comes once the route reads the body: sent any earlier (a loaded
            # machine), it could reach the server before the request does, and the server
            # would drop a connection it had not started to serve
            reading = threading.Event()
            read_body = webhook._read_body

            def signalling_read_body(*args):
                reading.set()
                return read_body(*args)

            with (
                patch.object(webhook, "_read_body", signalling_read_body),
                self.connect() as sock,
            ):
                sock.sendall(head)
                self.assertIn(b" 100 ", sock.recv(1024))
                sock.sendall(body[:40])
                self.assertTrue(reading.wait(20), "the request never reached the route")
                # close with a reset (RST) instead of an orderly FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
                self._wait_remaining_requests()
        self.env.invalidate_all()
        self.assertEqual(self.Event.search_count([]), before + 1)
        event = self.events()[0]
        self.assertEqual(event.state, "rejected")
        self.assertIn(f"of the {len(body)} bytes", event.error)
        self.assertTrue(body.startswith(event.body.encode()))
        self.assertIn("broken off by the sender", logs.output[0])
        self.assertFalse(self.calls("T-FRAME-RST"))

    def test_complete_bodies_still_accepted(self):
        body = json.dumps(call_payload("T-FRAME-OK")).encode()
        chunked = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (10, body[:10], len(body) - 10, body[10:])
        status, answer = self.exchange(self.request_head(["Transfer-Encoding: chunked"]) + chunked)
        self.assertEqual((status, answer["status"]), (200, "ok"))
        status, answer = self.exchange(self.request_head([f"Content-Length: {len(body)}"]) + body)
        self.assertEqual((status, answer["status"]), (200, "ok"))
        self.env.invalidate_all()
        self.assertEqual(len(self.calls("T-FRAME-OK")), 1)
        self.assertEqual(len(self.events()), 2)

    def test_answered_before_the_addon(self):
        """What Odoo answers itself (README, Troubleshooting): nothing stored. A request its
        HTTP server cannot read is meant to get 400/431/505; Odoo 18's server fails while
        sending that answer (its send_header reads the request's headers, not parsed yet) and
        closes the connection without any."""
        body = json.dumps(call_payload("T-FRAME-PRE")).encode()
        length = f"Content-Length: {len(body)}"
        head = self.request_head([length])
        self.assertEqual(self.exchange(head.replace(b"POST ", b"GET ", 1) + body)[0], 405)
        with mute_logger("odoo.service.server", "werkzeug"):
            for data, status in (
                (head.replace(b" HTTP/1.1", b" HTTP/1.1 extra", 1) + body, 400),
                (head.replace(b" HTTP/1.1", b" HTTP/2.0", 1) + body, 505),
                (self.request_head([length, "X-Long: " + "x" * 70000]) + body, 431),
            ):
                with self.subTest(status=status):
                    self.assertIn(self.exchange(data)[0], (None, status))
        self.env.invalidate_all()
        self.assertFalse(self.events())

    def test_database_failure_still_503(self):
        """A failure on Odoo's side (here PostgreSQL refusing the INSERT) is not the sender's:
        503, so that the PBX sends the delivery again, and an ERROR with its traceback."""
        self.env.cr.execute(
            "ALTER TABLE vpbx_webhook_event ADD CONSTRAINT vpbx_test_refuse CHECK (false) NOT VALID"
        )
        body = json.dumps(call_payload("T-FRAME-DB")).encode()
        with mute_logger("odoo.sql_db"), self.assertLogs(CONTROLLER_LOGGER, logging.ERROR) as logs:
            status, answer = self.exchange(
                self.request_head([f"Content-Length: {len(body)}"]) + body
            )
        self.assertEqual(status, 503)
        self.assertEqual(answer, {"status": "error", "error": "unavailable"})
        self.assertIn("vpbx_test_refuse", "\n".join(logs.output))
        self.env.cr.execute("ALTER TABLE vpbx_webhook_event DROP CONSTRAINT vpbx_test_refuse")
        self.assertFalse(self.events())
