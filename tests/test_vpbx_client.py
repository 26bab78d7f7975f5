"""VpbxClient against the VPBX simulator over loopback (no database needed)."""

import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from odoo.addons.sentech_vpbx.services.errors import (
    ERROR_MESSAGES,
    LOCAL_CODES,
    PBX_MESSAGES,
    VpbxError,
    error_from_envelope,
)
from odoo.addons.sentech_vpbx.services.vpbx_client import (
    MAX_RETRY_WAIT,
    TokenNeeded,
    TokenStore,
    VpbxClient,
)
from odoo.addons.sentech_vpbx.tools import vpbx_simulator
from odoo.addons.sentech_vpbx.tools.vpbx_simulator import VpbxSimulator
from odoo.tests import BaseCase, common, tagged

# Distinctive so that a search for it in log output means something.
KEY = "sim-key-3f9b27c1d8"
# Odoo's harness wraps Session.send in tests (it raises every time-out below 10 s to 10 s);
# these tests measure time-outs on loopback only, so they use the real send.
_REAL_SEND = getattr(common, "_super_send", requests.Session.send)
DOC_CODES = (
    "api_key_is_required api_key_invalid auth_invalid tenant_disabled individual_package_expired "
    "token_expired data_is_required tenant_invalid user_not_registered number_call_out_invalid "
    "extension_invalid user_busy do_not_call balance_is_not_enough invalid_phone_number "
    "resource_not_found permission_denied rate_limit_exceeded full_name_is_required "
    "identify_info_invalid password_invalid role_is_required agent_exists limit_agent invite_error"
).split()


def closed_port():
    """A loopback port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Records(logging.Handler):
    """Keeps the client's log records: expected warnings stay out of the Odoo log."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


class _Collector(BaseHTTPRequestHandler):
    """A webhook receiver that keeps what it is sent."""

    received = None

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.received.append((self.headers.get("Content-Type"), self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@tagged("post_install", "-at_install")
class TestVpbxErrors(BaseCase):
    def test_catalogue_covers_the_documented_codes(self):
        for code in DOC_CODES:
            self.assertIn(code, PBX_MESSAGES, code)
            err = error_from_envelope(
                {"status_code": -9999, "payload": {"status": "fail", "error": code}}, 200
            )
            self.assertEqual(err.code, code)
            self.assertEqual(str(err), f"{ERROR_MESSAGES[code]} ({code})")
        self.assertEqual(
            str(VpbxError("user_not_registered")),
            "Your softphone is not logged in: the extension is not registered on any phone "
            "(user_not_registered)",
        )
        self.assertEqual(str(VpbxError("api_key_invalid")), "API key invalid (api_key_invalid)")

    def test_envelope_shapes(self):
        # code in the top-level message
        err = error_from_envelope({"status_code": -9999, "message": "tenant_disabled"}, 200)
        self.assertEqual(err.code, "tenant_disabled")
        # unknown code: the PBX's text and the code
        err = error_from_envelope(
            {"status_code": -9999, "payload": {"error": "brand_new_code", "message": "Boom"}}, 200
        )
        self.assertEqual(str(err), "VPBX error: Boom (brand_new_code)")
        # free text only
        err = error_from_envelope({"status_code": -1, "message": "Something went wrong"}, 200)
        self.assertEqual(err.code, "unknown_error")
        self.assertEqual(str(err), "VPBX error: Something went wrong")
        # nothing usable
        err = error_from_envelope({"status_code": 5}, 200)
        self.assertEqual(err.code, "unexpected_response")
        # status_code 401 means the token must be refreshed
        self.assertEqual(error_from_envelope({"status_code": 401}, 200).code, "token_expired")
        # secrets never kept on the error
        err = error_from_envelope(
            {"status_code": -9999, "payload": {"error": "invite_error", "password": "Secret1!"}},
            200,
        )
        self.assertNotIn("Secret1!", json.dumps(err.raw))

    def test_render_translates_and_survives_bad_translations(self):
        err = VpbxError("timeout", params={"url": "http://x", "seconds": "3"})
        self.assertEqual(
            err.render(lambda s: "Hết thời gian %(seconds)s giây tại %(url)s"),
            "Hết thời gian 3 giây tại http://x",
        )
        # a translation with a wrong placeholder falls back to English
        self.assertEqual(
            err.render(lambda s: "%(oops)s"), "VPBX at http://x did not answer within 3 seconds"
        )
        self.assertFalse(err.is_pbx_code)
        self.assertTrue(err.retryable)
        for code in LOCAL_CODES:
            self.assertNotIn(f"({code})", VpbxError(code).render())


class SimulatorCase(BaseCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.classPatch(requests.sessions.Session, "send", _REAL_SEND)
        cls.sim = VpbxSimulator(api_key=KEY, seed=7).start()
        cls.addClassCleanup(cls.sim.stop)

    def setUp(self):
        super().setUp()
        self.sim.reset()
        self.records = _Records()
        self.logger = logging.Logger("sentech_vpbx.test_vpbx_client")
        self.logger.addHandler(self.records)

    def client(self, url=None, key=KEY, **kw):
        kw.setdefault("backoff", 0.01)
        kw.setdefault("timeout", 5)
        kw.setdefault("logger", self.logger)
        client = VpbxClient(url or self.sim.url, key, **kw)
        self.addCleanup(client.session.close)
        return client

    def count(self, endpoint):
        return len(self.sim.calls_for(endpoint))

    def assertVpbxError(self, code, func, *args, **kw):
        with self.assertRaises(VpbxError) as cm:
            func(*args, **kw)
        self.assertEqual(cm.exception.code, code, str(cm.exception))
        return cm.exception


@tagged("post_install", "-at_install")
class TestVpbxAuth(SimulatorCase):
    def test_token_fetched_once_and_cached(self):
        client = self.client()
        for _i in range(3):
            client.list_agents()
        self.assertEqual(self.count("auth"), 1)
        token, expires_at = client.token_store.get()
        self.assertGreater(expires_at, time.time() + 22 * 3600)
        for entry in self.sim.calls_for("agent_list"):
            self.assertEqual(entry["headers"]["Authorization"], f"Bearer {token}")
            self.assertNotIn("X-API-KEY", entry["headers"])
        self.assertEqual(self.sim.calls_for("auth")[0]["query"], {"apiKey": "***"})

    def test_refresh_before_expiry(self):
        client = self.client(token_lifetime=3600, refresh_margin=300)
        client.list_agents()
        old_token, _exp = client.token_store.get()
        # the token is still valid but inside the refresh margin
        client.token_store = TokenStore(old_token, time.time() + 100)
        client.list_agents()
        new_token, expires_at = client.token_store.get()
        self.assertNotEqual(new_token, old_token)
        self.assertGreater(expires_at, time.time() + 3000)
        self.assertEqual(self.count("auth"), 2)

    def test_refresh_once_on_401(self):
        client = self.client()
        client.list_agents()
        self.sim.expire_tokens()
        self.assertEqual(client.list_agents()["total_items"], 0)
        self.assertEqual(self.count("auth"), 2)
        self.assertEqual(self.count("agent_list"), 3)

    def test_refresh_on_token_expired_code_and_status_code(self):
        client = self.client()
        client.list_agents()
        # code token_expired inside an HTTP 200 envelope
        self.sim.inject_fault("agent_list", "token_expired", http_status=200, status_code=-9999)
        client.list_agents()
        # status_code 401 inside an HTTP 200 envelope
        self.sim.inject_fault("agent_list", "token_expired", http_status=200, status_code=401)
        client.list_agents()
        self.assertEqual(self.count("auth"), 3)
        self.assertEqual(self.count("agent_list"), 5)

    def test_lent_client_uses_the_token_and_never_renews_it(self):
        client = self.client()
        lent = client.lent()  # fetches the token here, in the lending thread
        self.addCleanup(lent.close)
        self.assertEqual(self.count("auth"), 1)
        self.assertIsNot(lent.session, client.session, "an HTTP session of its own")
        token, _exp = client.token_store.get()
        for _i in range(2):
            lent.list_agents()
        self.assertEqual(
            [entry["headers"]["Authorization"] for entry in self.sim.calls_for("agent_list")],
            [f"Bearer {token}"] * 2,
        )
        # refused: the lent client does not fetch a new one, its lender does
        self.sim.expire_tokens()
        with self.assertRaises(TokenNeeded) as needed:
            lent.list_agents()
        self.assertEqual(needed.exception.token, token)
        self.assertEqual(self.count("auth"), 1)
        renewed = client.renew_token(token)
        self.assertNotEqual(renewed, token)
        self.assertEqual(client.renew_token(token), renewed, "renewed once for one stale token")
        self.assertEqual(self.count("auth"), 2)
        client.list_agents()
        self.assertEqual(self.count("auth"), 2)
        # a client with no token to lend (API key only) lends none
        keyed = self.client(auth_mode="api_key").lent()
        self.addCleanup(keyed.close)
        keyed.list_agents()
        self.assertEqual(self.count("auth"), 2)

    def test_refused_twice_raises(self):
        client = self.client()
        self.sim.inject_fault("agent_list", "token_expired", count=2)
        err = self.assertVpbxError("token_expired", client.list_agents)
        self.assertEqual(err.http_status, 401)
        self.assertEqual(self.count("auth"), 2)
        self.assertEqual(self.count("agent_list"), 2)

    def test_wrong_api_key(self):
        client = self.client(key="not-the-key")
        err = self.assertVpbxError("api_key_invalid", client.test_connection)
        self.assertEqual(str(err), "API key invalid (api_key_invalid)")
        self.assertEqual(self.count("auth"), 1)

    def test_connection_summary(self):
        """What the Test connection button shows comes from the PBX, not from the client."""
        for i in range(3):
            self.sim.add_agent(f"Agent {i}", f"agent{i}@example.com")
        client = self.client(self.sim.url + "/")
        summary = client.test_connection()
        self.assertEqual(summary["agents"], len(self.sim.agents))
        self.assertEqual(summary["agents"], 3, "the PBX's total, not the size of the page read")
        self.assertEqual(summary["base_url"], self.sim.url, "the configured URL, normalized")
        self.assertEqual(summary["auth_mode"], "bearer")
        self.assertEqual(
            (summary["instance_id"], summary["instance_version"]), ("sentech-vpbx-sim", "sim-1.0")
        )
        self.assertGreaterEqual(summary["elapsed_ms"], 0)
        self.assertEqual((self.count("auth"), self.count("agent_list")), (1, 1))
        self.assertEqual(self.sim.calls_for("agent_list")[0]["query"]["size"], "1")
        # another PBX, another answer: nothing is made up by the client
        self.sim.reset()
        self.assertEqual(self.client().test_connection()["agents"], 0)

    def test_api_key_mode(self):
        client = self.client(auth_mode="api_key")
        self.sim.add_agent("Lan", "lan@example.com")
        summary = client.test_connection()
        self.assertEqual(summary["agents"], len(self.sim.agents))
        self.assertEqual(summary["agents"], 1)
        self.assertEqual(summary["base_url"], self.sim.url)
        self.assertEqual(summary["auth_mode"], "api_key")
        self.assertEqual(summary["instance_id"], "sentech-vpbx-sim")
        self.assertEqual(self.count("auth"), 0)
        headers = self.sim.calls_for("agent_list")[0]["headers"]
        self.assertEqual(headers["X-API-KEY"], KEY)
        self.assertNotIn("Authorization", headers)
        # a tenant that only takes tokens: refused, and no token to refresh
        self.sim.accept_api_key_header = False
        self.assertVpbxError("auth_invalid", client.list_agents)
        self.assertEqual(self.count("auth"), 0)

    def test_both_mode(self):
        client = self.client(auth_mode="both")
        client.list_agents()
        token, _exp = client.token_store.get()
        headers = self.sim.calls_for("agent_list")[0]["headers"]
        self.assertEqual(headers["X-API-KEY"], KEY)
        self.assertEqual(headers["Authorization"], f"Bearer {token}")

    def test_shared_store_fetches_once(self):
        store = TokenStore()
        clients = [self.client(token_store=store) for _i in range(5)]
        threads = [threading.Thread(target=c.list_agents) for c in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        self.assertEqual(self.count("auth"), 1)
        self.assertEqual(self.count("agent_list"), 5)
        # a refused token already replaced by another worker is not fetched again
        token, _exp = store.get()
        store.refresh(lambda: self.fail("must not fetch"), stale_token="some-older-token")
        self.assertEqual(store.get()[0], token)


@tagged("post_install", "-at_install")
class TestVpbxFaults(SimulatorCase):
    def test_http_500_on_read_is_retried(self):
        client = self.client(max_retries=2)
        self.sim.inject_fault("agent_list", "http_500", count=2)
        self.assertEqual(client.list_agents()["total_items"], 0)
        self.assertEqual(self.count("agent_list"), 3)

    def test_http_500_on_read_gives_up(self):
        client = self.client(max_retries=2)
        self.sim.inject_fault("agent_list", "http_500", count=5)
        err = self.assertVpbxError("http_error", client.list_agents)
        self.assertEqual(str(err), "VPBX replied with HTTP 500")
        self.assertEqual(err.http_status, 500)
        self.assertTrue(err.retryable)
        self.assertEqual(self.count("agent_list"), 3)
        self.assertEqual(
            [(r.levelname, r.getMessage()) for r in self.records.records if r.levelno > 10],
            [
                ("INFO", "VPBX GET /api/agent/list failed: http_error (HTTP 500), retry 1/2"),
                ("INFO", "VPBX GET /api/agent/list failed: http_error (HTTP 500), retry 2/2"),
                ("INFO", "VPBX GET /api/agent/list failed: http_error (HTTP 500)"),
            ],
        )

    def test_history_search_is_retried(self):
        client = self.client()
        self.sim.inject_fault("history_v2", "http_500")
        client.search_history(0, int(time.time() * 1000))
        self.assertEqual(self.count("history_v2"), 2)

    def test_writes_are_never_retried(self):
        client = self.client(max_retries=3)
        self.sim.add_agent("Lan", "lan@example.com", extension="101")
        calls = (
            (
                "agent_invite",
                lambda: client.invite_agent({"full_name": "A", "identify_info": "a@b.vn"}),
            ),
            ("click2call", lambda: client.click2call("101", "", "0912345678")),
            ("webhook_register", lambda: client.register_webhook("http://127.0.0.1:1/hook")),
        )
        for endpoint, call in calls:
            for kind in ("http_500", "close", "rate_limit"):
                with self.subTest(endpoint=endpoint, kind=kind):
                    before = self.count(endpoint)
                    self.sim.inject_fault(endpoint, kind, count=3)
                    with self.assertRaises(VpbxError):
                        call()
                    self.assertEqual(self.count(endpoint), before + 1)
                    self.sim.clear_faults()

    def test_slow_reply_times_out(self):
        client = self.client(timeout=0.5)
        client.get_token()
        self.sim.inject_fault("agent_list", "slow", delay=1.5)
        started = time.monotonic()
        err = self.assertVpbxError("timeout", client.list_agents)
        self.assertLess(time.monotonic() - started, 2)
        self.assertEqual(str(err), f"VPBX at {self.sim.url} did not answer within 0.5 seconds")
        self.assertTrue(err.retryable)

    def test_connection_refused(self):
        url = f"http://127.0.0.1:{closed_port()}"
        client = self.client(url + "/", timeout=3)
        started = time.monotonic()
        err = self.assertVpbxError("connection_refused", client.list_agents)
        self.assertLess(time.monotonic() - started, 3)
        self.assertEqual(str(err), f"Cannot reach VPBX at {url}: connection refused")
        self.assertTrue(err.retryable)

    def test_dropped_connection(self):
        client = self.client(max_retries=0)
        client.get_token()
        self.sim.inject_fault("agent_list", "close")
        err = self.assertVpbxError("unreachable", client.list_agents)
        self.assertIn(f"Cannot reach VPBX at {self.sim.url}: ", str(err))

    def test_not_json(self):
        client = self.client(max_retries=0)
        client.get_token()
        self.sim.inject_fault("agent_list", "http_502_html")
        err = self.assertVpbxError("invalid_json", client.list_agents)
        self.assertEqual(str(err), "VPBX replied with HTTP 502 and a body that is not JSON")
        self.assertTrue(err.retryable)
        self.sim.inject_fault("agent_list", "malformed_json")
        err = self.assertVpbxError("invalid_json", client.list_agents)
        self.assertEqual(str(err), "VPBX replied with HTTP 200 and a body that is not JSON")
        # a 502 page on a read is retried like any 5xx
        self.sim.inject_fault("agent_list", "http_502_html")
        self.client().list_agents()

    def test_every_error_code(self):
        client = self.client()
        self.sim.add_agent("Lan", "lan@example.com", extension="101")
        for code in DOC_CODES:
            with self.subTest(code=code):
                # two, so that token_expired still fails after its one refresh
                self.sim.inject_fault("click2call", "error", count=2, code=code)
                err = self.assertVpbxError(code, client.click2call, "101", "", "0912345678")
                self.assertEqual(str(err), f"{ERROR_MESSAGES[code]} ({code})")
                self.sim.clear_faults()

    def test_rate_limit_backoff(self):
        client = self.client(max_retries=2, backoff=0.01)
        waits = []
        client._sleep = waits.append
        self.sim.inject_fault("agent_list", "rate_limit", retry_after=0.3)
        client.list_agents()
        self.assertEqual(waits, [0.3])
        # Retry-After is capped, and without one the back-off doubles
        waits.clear()
        self.sim.inject_fault("agent_list", "rate_limit", retry_after=3600)
        self.sim.inject_fault("agent_list", "rate_limit")
        self.sim.inject_fault("agent_list", "rate_limit")
        err = self.assertVpbxError("rate_limit_exceeded", client.list_agents)
        self.assertEqual(waits, [MAX_RETRY_WAIT, 0.02])
        self.assertEqual(err.http_status, 429)

    def test_invalid_url_and_configuration(self):
        for url in (
            "ftp://pbx.example.com",
            "pbx.example.com",
            "http://",
            "http://h:99999",
            "https://pbx.example.com/?apiKey=abc",
        ):
            with self.subTest(url=url):
                err = self.assertVpbxError("invalid_url", VpbxClient.validate_base_url, url)
                self.assertNotIn("apiKey=abc", str(err))
        self.assertEqual(
            VpbxClient.validate_base_url(" https://pbx.example.com/omi/ "),
            "https://pbx.example.com/omi",
        )
        self.assertVpbxError("not_configured", VpbxClient, "", KEY)
        self.assertVpbxError("not_configured", VpbxClient, "https://pbx.example.com", "")

    def test_secrets_never_logged(self):
        # the module's own logger here, captured whole by assertLogs
        client = self.client(logger=None)
        with self.assertLogs(level=logging.DEBUG) as logs:
            client.list_agents()
            self.sim.expire_tokens()
            client.invite_agent(
                {"full_name": "Lan", "identify_info": "lan@example.com", "password": "Pw-0bscure!"}
            )
            self.sim.inject_fault("agent_list", "http_500", count=5)
            with self.assertRaises(VpbxError):
                client.list_agents()
            with self.assertRaises(VpbxError):
                VpbxClient(f"http://127.0.0.1:{closed_port()}", KEY, backoff=0.01).get_token()
            with self.assertRaises(VpbxError):
                VpbxClient(self.sim.url, KEY + "-wrong").get_token()
        tokens = set(self.sim.tokens) | set(self.sim.expired_tokens)
        self.assertEqual(len(tokens), 2)
        output = "\n".join(logs.output)
        self.assertIn("/api/agent/list", output)
        for secret in (KEY, "Pw-0bscure!", *tokens):
            self.assertNotIn(secret, output)


@tagged("post_install", "-at_install")
class TestVpbxEndpoints(SimulatorCase):
    def test_invite_layouts(self):
        client = self.client()
        body = {"full_name": "Trần Thị Lan", "identify_info": "lan@example.com"}
        env = client.invite_agent(body)
        self.assertEqual(env["payload"]["sip_user"], "101")
        self.assertEqual(env["payload"]["domain"], self.sim.domain)
        self.assertTrue(vpbx_simulator.password_ok(env["payload"]["password"]))
        self.sim.invite_layout = "pbx_account"
        env = client.invite_agent(
            {**body, "identify_info": "b@example.com", "password": "Aa1!aaaa"}
        )
        self.assertEqual(
            env["payload"]["pbx_account"],
            {"sip_realm": self.sim.domain, "username": "102", "sip_password": "Aa1!aaaa"},
        )
        self.sim.invite_layout = "root"
        env = client.invite_agent({**body, "identify_info": "c@example.com"})
        self.assertEqual((env["domain"], env["extension"]), (self.sim.domain, "103"))
        phones = client.list_internal_phones(keyword="c@example")
        self.assertEqual([p["sip_user"] for p in phones["items"]], ["103"])
        self.assertEqual(phones["items"][0]["password"], env["password"])
        self.assertTrue(phones["items"][0]["outbound_proxy"].startswith("wss://"))

    def test_invite_validation(self):
        client = self.client()
        ok = {"full_name": "Lan", "identify_info": "lan@example.com"}
        self.assertVpbxError("data_is_required", client.invite_agent, {})
        self.assertVpbxError("full_name_is_required", client.invite_agent, {**ok, "full_name": ""})
        self.assertVpbxError(
            "identify_info_invalid", client.invite_agent, {**ok, "identify_info": "lan"}
        )
        self.assertVpbxError("password_invalid", client.invite_agent, {**ok, "password": "short1"})
        self.sim.require_role = True
        self.assertVpbxError("role_is_required", client.invite_agent, ok)
        client.invite_agent({**ok, "role": "agent"})
        self.assertVpbxError("agent_exists", client.invite_agent, {**ok, "role": "agent"})
        self.sim.agent_limit = 1
        self.assertVpbxError(
            "limit_agent", client.invite_agent, {**ok, "identify_info": "x@y.vn", "role": "a"}
        )
        agents = client.list_agents(keyword="lan")
        self.assertEqual(agents["total_items"], 1)

    def test_click2call(self):
        client = self.client()
        self.sim.add_agent("Lan", "lan@example.com", extension="101")
        self.assertVpbxError("extension_invalid", client.click2call, "999", "", "0912345678")
        self.assertVpbxError("number_call_out_invalid", client.click2call, "101", "", "abc")
        self.assertVpbxError(
            "number_call_out_invalid", client.click2call, "101", "0000", "0912345678"
        )
        self.sim.set_extension("101", registered=False)
        self.assertVpbxError("user_not_registered", client.click2call, "101", "", "0912345678")
        self.sim.set_extension("101", registered=True, busy=True)
        self.assertVpbxError("user_busy", client.click2call, "101", "", "0912345678")
        self.sim.set_extension("101", busy=False)
        self.sim.do_not_call.add("0912 345 678")
        self.assertVpbxError("do_not_call", client.click2call, "101", "", "0912.345.678")
        payload = client.click2call("101", self.sim.hotlines[0], "0987654321")
        call_uuid = payload["call_uuid"]
        self.assertEqual(self.sim.calls[call_uuid]["state"], "ringing")
        self.assertEqual(
            self.sim.calls_for("click2call")[-1]["json"],
            {"extension": "101", "hotline": self.sim.hotlines[0], "phone_number": "0987654321"},
        )
        now_ms = int(time.time() * 1000)
        # a call still ringing is not in the history yet
        self.assertEqual(client.search_history(now_ms - 60000, now_ms + 60000)["total_items"], 0)
        record = self.sim.complete_call(call_uuid, "answered", bill_sec=42)
        self.assertEqual((record["bill_sec"], record["state"]), (42, "cdr"))
        items = client.search_history(now_ms - 60000, now_ms + 60000)["items"]
        self.assertEqual([i["transaction_id"] for i in items], [call_uuid])

    def test_history_paging_and_filters(self):
        client = self.client()
        for i in range(3):
            self.sim.add_agent(f"Agent {i}", f"a{i}@example.com")
        end = int(time.time())
        calls = self.sim.generate_calls(120, end - 86400, end, seed=3)
        self.assertEqual(len({c["transaction_id"] for c in calls}), 120)
        first = client.search_history((end - 86400) * 1000, end * 1000, size=500)
        self.assertEqual(
            (first["page_size"], first["total_items"], first["total_pages"], first["has_next"]),
            (50, 120, 3, True),
        )
        last = client.search_history((end - 86400) * 1000, end * 1000, page=3)
        self.assertEqual((len(last["items"]), last["has_next"]), (20, False))
        inbound = client.search_history(
            (end - 86400) * 1000, end * 1000, version="v3", directions=["inbound"]
        )
        expected = sum(1 for c in calls if c["direction"] == "inbound")
        self.assertEqual(inbound["total_items"], expected)
        body = self.sim.calls_for("history_v3")[-1]["json"]
        self.assertEqual(body["sort"], {"field": "time_start_call", "isAsc": False})
        self.assertEqual(body["filter"]["directions"], ["inbound"])
        starts = [c["time_start_call"] for c in inbound["items"]]
        self.assertEqual(starts, sorted(starts, reverse=True))
        one = calls[0]
        found = client.search_history(
            (end - 86400) * 1000, end * 1000, transactionIds=[one["transaction_id"]]
        )
        self.assertEqual(found["items"], [one])
        for call in calls:
            self.assertLess(call["time_start_call"], 1e12)
            self.assertGreater(call["created_date"], 1e12)
            if call["disposition"] != "answered":
                self.assertEqual(call["bill_sec"], 0)

    def test_history_index_is_a_scan(self):
        """The simulator's history index answers as a plain scan of its calls: filters, the
        window's edges, ties in stored order, either direction, another sort field, and the
        calls changed after a search."""
        sim = self.sim
        start = 1_700_000_000
        calls = sim.generate_calls(300, start, start + 600, seed=5)
        for call in calls[:60]:  # ties on the start time, stored after the others
            sim.add_call(**{**call, "transaction_id": call["transaction_id"] + "-tie"})
        sim.add_call(transaction_id="STILL-RINGING", time_start_call=start + 10)
        sim.calls["STILL-RINGING"]["time_end_call"] = None
        sim.calls.touch()

        def scan(criteria, sort, page, size):
            lo, hi = criteria["fromDate"] / 1000, criteria["toDate"] / 1000
            items = [
                dict(c)
                for c in sim.calls.values()
                if c.get("time_end_call") is not None
                and lo <= c["time_start_call"] <= hi
                and c["direction"] in criteria.get("directions", [c["direction"]])
            ]
            field = (sort or {}).get("field") or "time_start_call"
            items.sort(
                key=lambda c: (c.get(field) is None, c.get(field) or 0),
                reverse=not (sort or {}).get("isAsc", False),
            )
            return len(items), items[(page - 1) * size : page * size]

        def check():
            edge = calls[7]["time_start_call"] * 1000
            for criteria in (
                {"fromDate": start * 1000, "toDate": (start + 600) * 1000},
                {"fromDate": edge, "toDate": edge + 120_000, "directions": ["inbound"]},
                {"fromDate": edge, "toDate": edge},
                {"fromDate": edge, "toDate": edge - 1},
            ):
                for sort in (None, {"isAsc": True}, {"field": "duration", "isAsc": True}):
                    for page, size in ((1, 50), (2, 7), (40, 50)):
                        query = {"page": str(page), "size": str(size)}
                        payload = sim._search(query, criteria, sort)["payload"]
                        total, items = scan(criteria, sort, page, size)
                        self.assertEqual(payload["total_items"], total, (criteria, sort))
                        self.assertEqual(payload["items"], items, (criteria, sort, page))

        check()
        sim.add_call(**{**calls[3], "time_start_call": start + 5})  # moved, same position
        sim.complete_call(sim.calls["STILL-RINGING"]["call_uuid"], bill_sec=12)
        check()

    def test_webhooks_and_push(self):
        received = []
        handler = type("Collector", (_Collector,), {"received": received})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        hook_url = f"http://127.0.0.1:{server.server_address[1]}/vpbx/webhook/tok"
        client = self.client()
        client.register_webhook(hook_url)
        client.register_webhook(hook_url + "-events", "call_event", ["ringing"], wrapped=False)
        hooks = {h["type"]: h for h in client.list_webhooks()}
        self.assertEqual(hooks["call"]["url"], hook_url)
        self.assertEqual(hooks["call_event"]["events"], ["ringing"])
        client.destroy_webhook("call_event")
        self.assertEqual([h["type"] for h in client.list_webhooks()], ["call"])
        self.assertVpbxError("resource_not_found", client.destroy_webhook, "call_event")
        records = self.sim.generate_calls(3)
        self.assertEqual(self.sim.push_to_registered(records), [200, 200, 200])
        self.assertEqual(self.sim.push(hook_url, records, batch=True), [200])
        self.assertEqual(self.sim.push(hook_url, records[:1], form=True), [200])
        self.assertEqual(json.loads(received[0][1])["transaction_id"], records[0]["transaction_id"])
        self.assertEqual(len(json.loads(received[3][1])), 3)
        self.assertEqual(received[4][0], "application/x-www-form-urlencoded")
        self.assertEqual(self.sim.push(f"http://127.0.0.1:{closed_port()}/", records[:1]), [0])

        # control endpoints, as a dev server or a soak script uses them
        def control(method, path, body=None):
            reply = requests.request(method, self.sim.url + path, json=body, timeout=10)
            self.assertEqual(reply.status_code, 200, reply.text)
            return reply.json()

        reply = control("POST", "/_sim/calls/generate", {"n": 4, "push": True})
        self.assertEqual(reply["pushed"], {"200": 4})
        self.assertEqual(len(received), 9)
        control("POST", "/_sim/fault", {"endpoint": "agent_list", "kind": "http_500"})
        state = control("GET", "/_sim/state")
        self.assertEqual((state["calls"], len(state["faults"])), (7, 1))
        control("POST", "/_sim/expire_tokens")
        control("POST", "/_sim/reset")
        state = control("GET", "/_sim/state")
        self.assertEqual((state["calls"], state["faults"], state["webhooks"]), (0, [], []))

    def test_loopback_only(self):
        with self.assertRaises(ValueError):
            VpbxSimulator(host="0.0.0.0")
        self.assertEqual(vpbx_simulator.main(["serve", "--host", "192.0.2.1"]), 2)
