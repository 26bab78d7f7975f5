"""Recordings (issue #17, part 1): a player on the call form and list and in the contact's
chatter note, for users who may read the call. Players play Odoo's route, which checks access
and redirects to the PBX's http(s) link; anything else from the PBX is shown as text.

The browser tour plays a real (tiny) WAV served over loopback, through the route's redirect."""

import io
import threading
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from odoo.addons.sentech_vpbx.services.recording_url import playable_url, recording_route
from odoo.tests import BaseCase, new_test_user, tagged

from .common import VpbxWebhookCommon, call_payload

TOUR = "sentech_vpbx_recording"


def _wav(seconds=1.0, rate=8000):
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(rate)
        out.writeframes(b"\x80" * int(seconds * rate))
    return buffer.getvalue()


class _AudioServer:
    """A recording server on loopback: /rec.wav is audio, anything else a 404."""

    def __init__(self):
        audio = _wav()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path != "/rec.wav":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "audio/wav")
                self.send_header("Content-Length", str(len(audio)))
                self.end_headers()
                self.wfile.write(audio)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@tagged("post_install", "-at_install")
class TestRecordingUrl(BaseCase):
    def test_only_http_urls_play(self):
        for value in (
            "https://rec.example.com/a.mp3",
            "http://10.0.0.5:8080/rec?id=1&t=2",
            "HTTPS://REC.EXAMPLE.COM/A.MP3",
            "  https://rec.example.com/a.mp3\n",
        ):
            self.assertEqual(playable_url(value), value.strip(), value)
        for value in (
            "javascript:alert(1)",
            "JavaScript:alert(document.cookie)",
            "data:audio/wav;base64,AAAA",
            "file:///etc/passwd",
            "ftp://rec.example.com/a.mp3",
            "//rec.example.com/a.mp3",
            "/web/content/1",
            "rec-123.mp3",
            "https://",
            "https:///a.mp3",
            "https://rec.example.com/a b.mp3",
            "https://rec.example.com/\x00a.mp3",
            'https://rec.example.com/a.mp3"><img/src=x/onerror=alert(1)>',
            "https://rec.example.com\\@evil.example/a.mp3",
            "https://[::1/a.mp3",
            "https://rec.example.com/" + "a" * 3000,
            "",
            None,
            42,
            ["https://rec.example.com/a.mp3"],
        ):
            self.assertIsNone(playable_url(value), repr(value))
        self.assertEqual(recording_route(7), "/vpbx/call/7/recording")


@tagged("post_install", "-at_install")
class TestRecording(VpbxWebhookCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.audio = _AudioServer()
        cls.addClassCleanup(cls.audio.stop)
        groups = "base.group_user,sentech_vpbx.group_vpbx_user"
        cls.agent = new_test_user(cls.env, login="rec_agent", groups=groups)
        cls.colleague = new_test_user(cls.env, login="rec_colleague", groups=groups)
        cls.plain = new_test_user(cls.env, login="rec_plain", groups="base.group_user")
        cls.partner = cls.env["res.partner"].create(
            {"name": "Recording Contact", "mobile": "0912 345 678"}
        )

    def call(self, call_id, url, user=None):
        return self.Call.create(
            {
                "vpbx_call_id": call_id,
                "pbx_id": self.pbx.id,
                "customer_number": "0912345678",
                "recording_url": url,
                "user_id": (user or self.agent).id,
                "partner_id": self.partner.id,
                "status": "answered",
                "is_final": True,
            }
        )

    def get(self, call, login):
        if login:
            self.authenticate(login, login)
        else:
            self.logout()
        return self.url_open(recording_route(call.id), allow_redirects=False)

    # ------------------------------------------------------------------ the route
    def test_route_redirects_readers_only(self):
        url = "https://rec.example.com/R-1.mp3?sig=abc"
        call = self.call("REC-1", url)
        self.assertEqual(call.vpbx_recording_src, f"/vpbx/call/{call.id}/recording")
        response = self.get(call, "rec_agent")
        self.assertEqual(response.status_code, 302)
        self.assertEqual(response.headers["Location"], url)
        self.assertEqual(response.headers["Cache-Control"], "private, no-store")
        self.assertEqual(response.headers["Referrer-Policy"], "no-referrer")
        self.assertEqual(self.get(call, "admin").status_code, 302, "a VPBX manager")
        # another salesperson's call, a user without VPBX rights, nobody logged in: nothing
        for login in ("rec_colleague", "rec_plain"):
            response = self.get(call, login)
            self.assertEqual(response.status_code, 404, login)
            self.assertNotIn("rec.example.com", response.text)
        response = self.get(call, None)
        self.assertIn(response.status_code, (302, 303))
        self.assertIn("/web/login", response.headers["Location"])
        # a call that does not exist looks the same as one the user may not read
        self.authenticate("rec_agent", "rec_agent")
        missing = self.url_open("/vpbx/call/999999999/recording", allow_redirects=False)
        self.assertEqual(missing.status_code, 404)

    def test_anything_but_http_is_text(self):
        for index, url in enumerate(
            ("javascript:alert(1)", "file:///etc/passwd", "rec-42.mp3", "data:text/html,x")
        ):
            call = self.call(f"REC-T{index}", url)
            self.assertFalse(call.vpbx_recording_src, url)
            self.assertEqual(self.get(call, "rec_agent").status_code, 404, url)
            self.assertFalse(call.action_vpbx_open_recording())

    # ------------------------------------------------------------------ the note
    def test_note_plays_through_the_route(self):
        url = "https://rec.example.com/N-1.mp3"
        self.post(call_payload("N-1", recording_file_url=url))
        call = self.calls("N-1")
        note = self.notes(self.partner)
        self.assertEqual(len(note), 1)
        self.assertIn(
            f'<a class="o_vpbx_recording" href="/vpbx/call/{call.id}/recording"', note.body
        )
        self.assertNotIn("rec.example.com", note.body, "the PBX's link stays on the call")

    def test_note_shows_other_links_as_escaped_text(self):
        # an http link the mapping keeps, but no URL as written: text, never a link
        bad = 'https://rec.example.com/a.mp3" <img src=x onerror=alert(1)>'
        self.post(call_payload("N-2", recording_file_url=bad))
        note = self.notes(self.partner)
        self.assertEqual(len(note), 1)
        self.assertNotIn("<a", note.body)
        self.assertNotIn("<img", note.body)
        self.assertIn("Recording: https://rec.example.com/a.mp3", note.body)
        self.assertIn("&lt;img src=x onerror=alert(1)&gt;", note.body)

    # ------------------------------------------------------------------ in the browser
    def test_tour_plays_the_recording(self):
        call = self.call("REC-TOUR", f"{self.audio.url}/rec.wav")
        # the contact's note, as the webhook leaves it
        call._vpbx_post_note()
        options = {"login": "rec_agent", "timeout": 120}
        self.start_tour(f"/odoo/vpbx.call/{call.id}", TOUR, **options)
        self.start_tour("/odoo/action-sentech_vpbx.action_vpbx_call", TOUR, **options)
        self.start_tour(f"/odoo/res.partner/{self.partner.id}", TOUR, **options)

    def test_tour_text_for_other_links(self):
        call = self.call("REC-TEXT", "javascript:alert(1)")
        self.start_tour(
            f"/odoo/vpbx.call/{call.id}",
            "sentech_vpbx_recording_text",
            login="rec_agent",
            timeout=120,
        )
