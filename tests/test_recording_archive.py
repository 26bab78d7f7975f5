"""Recordings archived in Odoo's filestore (issue #17, part 1, optional per account): a
scheduled action fetches them over real HTTP from a loopback server (audio, 404, HTML, too
large, slow, 5xx, redirects); private addresses are refused unless the account lists the host;
the route serves the archive with range requests, to users who may read the call only."""

import io
import threading
import time
import wave
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from odoo import SUPERUSER_ID, api, fields
from odoo.tests import new_test_user, tagged

from ..models import vpbx_recording
from .common import VpbxWebhookCommon, call_payload, rows_walked

CRON = "sentech_vpbx.ir_cron_vpbx_archive_recordings"


def _wav(seconds=0.5, rate=8000):
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(rate)
        out.writeframes(bytes(range(256)) * int(seconds * rate / 256))
    return buffer.getvalue()


WAV = _wav()
HTML = b"<!DOCTYPE html><html><body>Please log in</body></html>"


class _PbxFiles:
    """The PBX's recording server on loopback; counts the requests it got."""

    def __init__(self):
        self.hits = []
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def send(self, status, body=b"", mimetype="audio/wav", length=None, headers=()):
                self.send_response(status)
                self.send_header("Content-Type", mimetype)
                self.send_header("Content-Length", str(len(body) if length is None else length))
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                hits.append(self.path)
                path = self.path
                if path == "/ok.wav":
                    self.send(200, WAV)
                elif path == "/redirect":
                    self.send(302, headers=[("Location", "/ok.wav")])
                elif path == "/page":
                    self.send(200, HTML, mimetype="text/html")
                elif path == "/fake.mp3":
                    self.send(200, HTML, mimetype="audio/mpeg")
                elif path == "/big.wav":
                    self.send(200, WAV[:100], length=3 * 1024 * 1024)
                elif path == "/stream.wav":
                    # no Content-Length: the size is known only while reading
                    self.send_response(200)
                    self.send_header("Content-Type", "audio/wav")
                    self.end_headers()
                    try:
                        for _index in range(40):
                            self.wfile.write(WAV[:44] + b"\x80" * (64 * 1024))
                    except OSError:
                        pass  # the client stopped reading
                    self.close_connection = True
                elif path == "/slow.wav":
                    time.sleep(3)
                    self.send(200, WAV)
                elif path == "/busy":
                    self.send(503, b"busy", mimetype="text/plain")
                else:
                    self.send(404, b"gone", mimetype="text/plain")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@tagged("post_install", "-at_install")
class TestRecordingArchive(VpbxWebhookCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.files = _PbxFiles()
        cls.addClassCleanup(cls.files.stop)
        cls.pbx.write(
            {
                "recording_archive": True,
                "recording_max_mb": 1,
                "recording_timeout": 1.5,
                "recording_allowed_hosts": "127.0.0.1",
            }
        )
        groups = "base.group_user,sentech_vpbx.group_vpbx_user"
        cls.agent = new_test_user(cls.env, login="arc_agent", groups=groups)
        cls.colleague = new_test_user(cls.env, login="arc_colleague", groups=groups)
        cls.Recording = cls.env["vpbx.recording"]
        cls.count = 0

    def setUp(self):
        super().setUp()
        self.files.hits.clear()

    def call(self, path, user=None, **vals):
        TestRecordingArchive.count += 1
        return self.Call.create(
            {
                "vpbx_call_id": f"ARC-{self.count}",
                "pbx_id": self.pbx.id,
                "customer_number": "0912345678",
                "recording_url": path if "://" in path else f"{self.files.url}{path}",
                "user_id": (user or self.agent).id,
                "status": "answered",
                "is_final": True,
                "start_time": fields.Datetime.now(),
                **vals,
            }
        )

    def archive(self, **kw):
        # the scheduled action commits row by row: on a (test) cursor of its own
        self.env.flush_all()
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            tried = env["vpbx.recording"]._cron_vpbx_archive_recordings(**kw)
        self.env.invalidate_all()
        return tried

    def row(self, call):
        return self.Recording.search([("call_id", "=", call.id)])

    def get(self, call, login, **headers):
        self.authenticate(login, login)
        return self.url_open(
            f"/vpbx/call/{call.id}/recording", headers=headers, allow_redirects=False
        )

    # ------------------------------------------------------------------ success and serving
    def test_archived_and_served_with_ranges(self):
        call = self.call("/redirect")
        self.assertEqual(self.archive(), 1)
        row = self.row(call)
        self.assertEqual(row.state, "archived")
        self.assertEqual(row.mimetype, "audio/wav")
        self.assertEqual(row.size, len(WAV))
        self.assertEqual(row.attachment_id.raw, WAV)
        self.assertEqual(self.files.hits, ["/redirect", "/ok.wav"])
        # played from Odoo from now on: the PBX is not asked again
        whole = self.get(call, "arc_agent")
        self.assertEqual(whole.status_code, 200)
        self.assertEqual(whole.headers["Content-Type"], "audio/wav")
        self.assertEqual(whole.content, WAV)
        part = self.get(call, "arc_agent", Range="bytes=100-199")
        self.assertEqual(part.status_code, 206)
        self.assertEqual(part.headers["Content-Range"], f"bytes 100-199/{len(WAV)}")
        self.assertEqual(part.content, WAV[100:200])
        tail = self.get(call, "arc_agent", Range="bytes=-10")
        self.assertEqual(tail.status_code, 206)
        self.assertEqual(tail.content, WAV[-10:])
        self.assertEqual(self.files.hits, ["/redirect", "/ok.wav"])
        # another salesperson's call: nothing
        refused = self.get(call, "arc_colleague", Range="bytes=0-99")
        self.assertEqual(refused.status_code, 404)
        self.assertNotIn(b"RIFF", refused.content)
        # the audio is not an attachment users can read through Odoo's own routes
        self.assertFalse(
            self.env["ir.attachment"]
            .with_user(self.agent)
            .search([("id", "=", row.attachment_id.id)])
        )
        # the call goes, its audio too
        attachment = row.attachment_id
        call.unlink()
        self.assertFalse(attachment.exists())

    def test_queued_by_the_cron_never_by_the_webhook(self):
        response = self.post(
            call_payload(
                "ARC-HOOK", start=int(time.time()), recording_file_url=f"{self.files.url}/ok.wav"
            )
        )
        self.assertEqual(response.status_code, 200)
        call = self.calls("ARC-HOOK")
        self.assertFalse(self.row(call), "nothing done in the webhook request")
        self.assertFalse(self.files.hits)
        self.archive()
        self.assertEqual(self.row(call).state, "archived")
        # an account without archiving, a link that is not http, a call still going on: none
        other = self.env["vpbx.pbx"].create({"name": "No archive", "company_id": self.company.id})
        skipped = (
            self.call("/ok.wav", pbx_id=other.id)
            | self.call("/ok.wav", recording_url="rec-1.mp3")
            | self.call("/ok.wav", is_final=False)
        )
        self.archive()
        self.assertFalse(self.Recording.search([("call_id", "in", skipped.ids)]))

    # ------------------------------------------------------------------ bad input
    def test_private_address_refused_unless_listed(self):
        self.pbx.recording_allowed_hosts = False
        call = self.call("/ok.wav")
        self.archive()
        row = self.row(call)
        self.assertEqual((row.state, row.error_kind), ("failed", "refused"))
        self.assertIn("127.0.0.1", row.error_detail)
        self.assertFalse(self.files.hits, "nothing fetched")
        # the account's own link to its PBX on the office network, for the test: loopback
        self.pbx.recording_allowed_hosts = "pbx.lan, 127.0.0.1"
        row.action_vpbx_retry()
        self.archive()
        self.assertEqual(row.state, "archived")

    def test_final_failures(self):
        cases = {
            "/expired.mp3": ("gone", "HTTP 404"),
            "/page": ("not_audio", "text/html"),
            "/fake.mp3": ("not_audio", "audio/mpeg"),
            "/big.wav": ("too_large", "3,145,728 > 1,048,576 bytes"),
            "/stream.wav": ("too_large", "> 1,048,576 bytes"),
        }
        calls = {path: self.call(path) for path in cases}
        self.archive()
        for path, (kind, detail) in cases.items():
            row = self.row(calls[path])
            self.assertEqual((row.state, row.error_kind), ("failed", kind), path)
            self.assertIn(detail, row.error_detail, path)
            self.assertFalse(row.attachment_id, path)
            self.assertEqual(row.attempts, 1, path)

    def test_slow_and_busy_are_tried_again_then_given_up(self):
        slow, busy = self.call("/slow.wav"), self.call("/busy")
        started = time.monotonic()
        self.archive()
        self.assertLess(time.monotonic() - started, 10, "the time-out held")
        self.assertEqual((self.row(slow).state, self.row(slow).error_kind), ("pending", "timeout"))
        row = self.row(busy)
        self.assertEqual((row.state, row.error_kind, row.attempts), ("pending", "http_error", 1))
        self.assertGreater(row.next_attempt, fields.Datetime.now() + timedelta(minutes=4))
        self.archive()
        self.assertEqual(self.row(busy).attempts, 1, "not before its time")
        for attempt in range(2, 6):
            row.sudo().write({"next_attempt": fields.Datetime.now() - timedelta(seconds=1)})
            self.row(slow).sudo().write({"next_attempt": False, "state": "failed"})
            self.archive()
            self.assertEqual(row.attempts, attempt)
        self.assertEqual((row.state, row.error_kind), ("failed", "http_error"))

    def test_claim_does_not_walk_past_archived_recordings(self):
        """Each fetch claims the oldest pending recording, reading the pending ones only
        however many archived ones are kept, even with statistics taken during a backlog."""
        cr = self.env.cr
        cr.execute(
            """
            WITH calls AS (
                INSERT INTO vpbx_call (pbx_id, vpbx_call_id, direction, status, is_final)
                SELECT %(pbx)s, 'ARC-WALK-' || n, 'inbound', 'answered', true
                  FROM generate_series(1, 3300) AS n
             RETURNING id
            )
            INSERT INTO vpbx_recording (call_id, pbx_id, state, attempts)
            SELECT id, %(pbx)s, CASE WHEN row_number() OVER (ORDER BY id) > 3000
                                     THEN 'pending' ELSE 'archived' END, 0
              FROM calls
            """,
            {"pbx": self.pbx.id},
        )
        cr.execute("ANALYZE vpbx_call")
        cr.execute("ANALYZE vpbx_recording")
        claim = vpbx_recording.RECORDING_CLAIM
        self.assertLess(rows_walked(cr, claim, [fields.Datetime.now()]), 100)

    # ------------------------------------------------------------------ retention
    def test_retention_removes_old_archives(self):
        self.pbx.recording_keep_days = 30
        old, recent = self.call("/ok.wav"), self.call("/ok.wav")
        self.archive()
        old_row = self.row(old)
        old_row.sudo().archived_at = fields.Datetime.now() - timedelta(days=31)
        attachment = old_row.attachment_id
        self.env.flush_all()
        with self.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {})["vpbx.retention"]._cron_vpbx_purge()
        self.env.invalidate_all()
        self.assertFalse(attachment.exists())
        self.assertEqual(old_row.state, "purged")
        self.assertEqual(self.row(recent).state, "archived")
        self.assertEqual(self.pbx.retention_last_recordings, 1)
        # the player goes back to the PBX's link
        response = self.get(old, "arc_agent")
        self.assertEqual(response.status_code, 302)
        self.assertEqual(response.headers["Location"], old.recording_url)
