#!/usr/bin/env python3
"""A SENTECH VPBX (OmiCall-compatible) simulator on loopback, for tests, demos and benchmarks.

Stdlib only, so it runs by path (``python3 tools/vpbx_simulator.py serve``) and imports as
``odoo.addons.sentech_vpbx.tools.vpbx_simulator``. State is in memory and thread-safe.

It answers every endpoint of docs/pbx-api.md, "Endpoints", with the documented envelope, and
adds control endpoints under ``/_sim/`` (faults, call generation and push, reset, state) so that
a dev server or a soak script can drive it from another process.

Choices where the real PBX is silent (documented here so tests can rely on them):
- auth errors (``api_key_is_required``, ``api_key_invalid``) answer HTTP 401 with the error
  envelope; other endpoints answer HTTP 401 ``auth_invalid`` (no or unknown credentials) or
  ``token_expired`` (a token that was issued but expired);
- a call accepts a valid Bearer token or a valid ``X-API-KEY`` (either is enough);
- agent invite reads ``full_name``, ``identify_info`` (or ``email``), ``password`` (optional:
  one is generated) and ``role`` (required only when ``require_role`` is set);
- click-to-call answers ``number_call_out_invalid`` for an unknown hotline or a customer
  number that is not 3 to 15 digits; an empty hotline uses the first one of the tenant;
- history lists only finished calls, filtered on ``time_start_call`` in [fromDate, toDate].

History search is answered from an index of the finished calls sorted by start time, rebuilt
only after the stored calls change (``calls`` counts its own changes; a caller that changes a
stored record in place calls ``calls.touch()``), so that a page costs the same at 20k calls as
at 20: the window is found by bisection and only the page's records are copied.
"""

import argparse
import bisect
import collections
import concurrent.futures
import contextlib
import ipaddress
import json
import random
import re
import secrets
import socket
import string
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Same keys and paths as services/vpbx_client.DEFAULT_PATHS (kept here: this file stands alone).
DEFAULT_PATHS = {
    "auth": "/api/auth",
    "agent_invite": "/api/agent/invite",
    "agent_list": "/api/agent/list",
    "internal_phone_list": "/api/call_center/internal_phone/list",
    "click2call": "/api/click2call",
    "history_v2": "/api/v2/callTransaction/search",
    "history_v3": "/api/v3/call-transaction/search",
    "webhook_list": "/api/webhooks/list",
    "webhook_register": "/api/webhooks/register",
    "webhook_destroy": "/api/webhooks/destroy",
}
FAULT_KINDS = (
    "http_500",
    "http_502_html",
    "slow",
    "token_expired",
    "malformed_json",
    "error",
    "rate_limit",
    "close",
)
INVITE_LAYOUTS = ("payload", "pbx_account", "root")
ERROR_TEXTS = {
    "api_key_is_required": "Api key is required",
    "api_key_invalid": "Api key invalid",
    "auth_invalid": "Authentication invalid",
    "token_expired": "Token expired",
    "data_is_required": "Data is required",
    "full_name_is_required": "Full name is required",
    "identify_info_invalid": "Identify info invalid",
    "password_invalid": "Password invalid",
    "role_is_required": "Role is required",
    "agent_exists": "Agent exists",
    "limit_agent": "Limit agent",
    "extension_invalid": "Extension invalid",
    "user_not_registered": "User not registered",
    "user_busy": "User busy",
    "do_not_call": "Do not call",
    "number_call_out_invalid": "Number call out invalid",
    "resource_not_found": "Resource not found",
    "rate_limit_exceeded": "Rate limit exceeded",
}
HOTLINES = ("842888806669", "842873001234")
FIRST_EXTENSION = 101
MAX_PAGE_SIZE = 50
#: The PBX waits this long for the routing URL's answer, then rings by its own rules
ROUTE_TIMEOUT = 2.0
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# Data for generated calls: Vietnamese names and number formats seen in real contact lists.
_LAST = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi")
_MIDDLE = ("Văn", "Thị", "Hữu", "Minh", "Ngọc", "Thanh", "Quốc", "Thu")
_FIRST = ("An", "Bình", "Châu", "Dũng", "Hà", "Hùng", "Lan", "Long", "Mai", "Nam", "Trang")
_MOBILE_PREFIXES = ("090", "091", "093", "096", "097", "098", "032", "038", "070", "077", "083")
_OLD_MOBILE_PREFIXES = ("0168", "0169", "0123", "0126", "0162", "0188")
_LANDLINE_CODES = ("028", "024", "0236", "0251")
_OLD_LANDLINE_CODES = ("08", "04", "0511", "061")


def _now():
    return time.time()


def _ms(ts):
    return int(ts * 1000)


def _digits(text):
    return re.sub(r"\D", "", str(text or ""))


def envelope(payload, status_code=9999, **root):
    body = {
        "instance_id": "sentech-vpbx-sim",
        "instance_version": "sim-1.0",
        "key_enabled": False,
        "status_code": status_code,
        "payload": payload,
    }
    body.update(root)
    return body


def error_envelope(code, message=None):
    return envelope(
        {"status": "fail", "error": code, "message": message or ERROR_TEXTS.get(code, code)},
        status_code=-9999,
    )


class SimError(Exception):
    """An API error answered as the documented error envelope."""

    def __init__(self, code, http_status=200, message=None):
        super().__init__(code)
        self.code = code
        self.http_status = http_status
        self.message = message


def _is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def strong_password(rng):
    """A password that meets the invite policy (8+, upper, lower, digit, special)."""
    chars = [
        rng.choice(string.ascii_uppercase),
        rng.choice(string.ascii_lowercase),
        rng.choice(string.digits),
        rng.choice("!@#$%"),
    ] + [rng.choice(string.ascii_letters + string.digits) for _ in range(8)]
    rng.shuffle(chars)
    return "".join(chars)


def password_ok(password):
    return (
        len(password) >= 8
        and any(c.isupper() for c in password)
        and any(c.islower() for c in password)
        and any(c.isdigit() for c in password)
        and any(not c.isalnum() for c in password)
    )


class CallStore(collections.OrderedDict):
    """The stored calls, ``transaction_id -> record``, in the order they were first stored;
    ``version`` grows at every change of the mapping (``touch()`` after changing a record in
    place), so that the history index knows when to rebuild."""

    version = 0

    def touch(self):
        self.version += 1

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        self.version += 1

    def __delitem__(self, key):
        super().__delitem__(key)
        self.version += 1

    def pop(self, *args):
        self.version += 1
        return super().pop(*args)

    def popitem(self, last=True):
        self.version += 1
        return super().popitem(last)

    def clear(self):
        self.version += 1
        super().clear()

    def setdefault(self, key, default=None):
        self.version += 1
        return super().setdefault(key, default)

    def update(self, *args, **kw):
        self.version += 1
        super().update(*args, **kw)

    def move_to_end(self, key, last=True):
        self.version += 1
        super().move_to_end(key, last)


class VpbxSimulator:
    """In-memory PBX answering the VPBX API over HTTP on loopback."""

    def __init__(
        self,
        api_key="sim-api-key",
        host="127.0.0.1",
        port=0,
        token_lifetime=86400,
        domain="sentech.vpbx.local",
        seed=None,
    ):
        if not _is_loopback(host):
            raise ValueError(f"the simulator only listens on loopback, not {host!r}")
        self.api_key = api_key
        self.host = host
        self.port = port
        self.token_lifetime = token_lifetime
        self.domain = domain
        self.seed = seed
        self.url = None
        self._server = None
        self._thread = None
        self._lock = threading.RLock()
        self._routes = {
            ("GET", DEFAULT_PATHS["auth"]): ("auth", self._h_auth),
            ("POST", DEFAULT_PATHS["agent_invite"]): ("agent_invite", self._h_invite),
            ("GET", DEFAULT_PATHS["agent_list"]): ("agent_list", self._h_agent_list),
            ("GET", DEFAULT_PATHS["internal_phone_list"]): (
                "internal_phone_list",
                self._h_phone_list,
            ),
            ("POST", DEFAULT_PATHS["click2call"]): ("click2call", self._h_click2call),
            ("POST", DEFAULT_PATHS["history_v2"]): ("history_v2", self._h_history_v2),
            ("POST", DEFAULT_PATHS["history_v3"]): ("history_v3", self._h_history_v3),
            ("GET", DEFAULT_PATHS["webhook_list"]): ("webhook_list", self._h_webhook_list),
            ("POST", DEFAULT_PATHS["webhook_register"]): (
                "webhook_register",
                self._h_webhook_register,
            ),
            ("POST", DEFAULT_PATHS["webhook_destroy"]): (
                "webhook_destroy",
                self._h_webhook_destroy,
            ),
        }
        self._control = {
            ("POST", "/_sim/fault"): self._c_fault,
            ("POST", "/_sim/clear_faults"): self._c_clear_faults,
            ("POST", "/_sim/calls/generate"): self._c_generate,
            ("POST", "/_sim/calls/complete"): self._c_complete,
            ("POST", "/_sim/ring"): self._c_ring,
            ("POST", "/_sim/agents"): self._c_add_agent,
            ("POST", "/_sim/extension"): self._c_extension,
            ("POST", "/_sim/config"): self._c_config,
            ("POST", "/_sim/reset"): self._c_reset,
            ("POST", "/_sim/expire_tokens"): self._c_expire_tokens,
            ("GET", "/_sim/state"): self._c_state,
        }
        self.reset()

    # ------------------------------------------------------------------ lifecycle
    def start(self):
        if self._server:
            return self
        handler = type("Handler", (_Handler,), {"sim": self})
        server_cls = ThreadingHTTPServer
        if ":" in self.host:
            server_cls = type(
                "Server6", (ThreadingHTTPServer,), {"address_family": socket.AF_INET6}
            )
        self._server = server_cls((self.host, self.port), handler)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.port = port
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="vpbx-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def reset(self):
        """Forget everything (agents, calls, tokens, webhooks, faults, log, settings)."""
        with self._lock:
            self.rng = random.Random(self.seed)
            self.tokens = {}  # token -> expires_at
            self.expired_tokens = set()
            self.agents = []
            self.phones = {}  # extension -> internal phone entry
            self.extension_flags = {}  # extension -> {"registered": bool, "busy": bool}
            self.calls = CallStore()  # transaction_id -> record
            self._history = None  # (calls, version, index) see _history_index()
            self.webhooks = {}  # hook type -> {"type", "url", "events"}
            self.faults = []
            self.requests_log = []
            self.do_not_call = set()
            self.hotlines = list(HOTLINES)
            self.invite_layout = "payload"
            self.agent_limit = None
            self.require_role = False
            self.accept_bearer = True
            self.accept_api_key_header = True
            self.auth_count = 0
            # ring-time routing (OmiCall's routing-criteria callback): asked before ringing
            self.route_url = None
            self.route_api_key = None
            self.route_answers = []  # [(number, hotline, extensions answered or None)]

    # ------------------------------------------------------------------ test controls
    def expire_tokens(self):
        with self._lock:
            self.expired_tokens.update(self.tokens)
            self.tokens.clear()

    def inject_fault(self, endpoint, kind, count=1, **opts):
        if endpoint != "*" and endpoint not in DEFAULT_PATHS:
            raise ValueError(f"unknown endpoint {endpoint!r}")
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        with self._lock:
            self.faults.append(
                {"endpoint": endpoint, "kind": kind, "remaining": int(count), "opts": opts}
            )

    def clear_faults(self):
        with self._lock:
            self.faults.clear()

    def set_extension(self, extension, registered=None, busy=None):
        with self._lock:
            flags = self.extension_flags.setdefault(
                str(extension), {"registered": True, "busy": False}
            )
            if registered is not None:
                flags["registered"] = bool(registered)
            if busy is not None:
                flags["busy"] = bool(busy)
            return dict(flags)

    def calls_for(self, endpoint):
        """Logged requests of one endpoint key (e.g. 'auth')."""
        with self._lock:
            return [r for r in self.requests_log if r["endpoint"] == endpoint]

    def _take_fault(self, endpoint):
        with self._lock:
            for fault in self.faults:
                if fault["endpoint"] in ("*", endpoint) and fault["remaining"] > 0:
                    fault["remaining"] -= 1
                    if fault["remaining"] <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    # ------------------------------------------------------------------ agents
    def _next_extension(self):
        ext = FIRST_EXTENSION
        while str(ext) in self.phones:
            ext += 1
        return str(ext)

    def add_agent(self, full_name, email, extension=None, password=None, role="agent"):
        """Create an agent and its extension directly (no validation beyond duplicates)."""
        with self._lock:
            if any(a["email"].lower() == email.lower() for a in self.agents):
                raise SimError("agent_exists")
            extension = str(extension) if extension else self._next_extension()
            if extension in self.phones:
                raise SimError("agent_exists", message=f"extension {extension} is taken")
            password = password or strong_password(self.rng)
            agent_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            now = _ms(_now())
            agent = {
                "id": agent_id,
                "agent_id": agent_id,
                "full_name": full_name,
                "email": email,
                "identify_info": email,
                "role": role,
                "extension": extension,
                "sip_user": extension,
                "status": "active",
                "created_date": now,
                "last_updated_date": now,
            }
            self.agents.append(agent)
            self.phones[extension] = {
                "domain": self.domain,
                "sip_user": extension,
                "password": password,
                "outbound_proxy": f"wss://{self.domain}:7443",
                "full_name": full_name,
                "agent_id": agent_id,
                "email": email,
                "public_number": self.hotlines[0] if self.hotlines else None,
            }
            self.extension_flags.setdefault(extension, {"registered": True, "busy": False})
            return {**agent, "password": password, "domain": self.domain}

    # ------------------------------------------------------------------ calls
    def _agent_for(self, extension):
        phone = self.phones.get(str(extension))
        return phone or {"full_name": f"Ext {extension}", "email": None}

    def add_call(self, ring_sec=None, customer_name=None, **fields):
        """Store a call record shaped as in docs/pbx-api.md, "Call records"; missing fields get
        defaults.

        Given fields are kept as they are; ``ring_sec`` (seconds before answer or give-up) and
        ``customer_name`` only shape the defaults.
        """
        now = int(_now())
        start = int(fields.get("time_start_call") or now - 60)
        direction = fields.get("direction") or "inbound"
        ext = str(fields.get("sip_user") or next(iter(self.phones), "101"))
        customer = fields.get("phone_number") or "0912345678"
        hotline = fields.get("sip_number") or (self.hotlines[0] if self.hotlines else "")
        disposition = fields.get("disposition", "answered")
        ring = int(ring_sec if ring_sec is not None else 5)
        answered = disposition == "answered"
        talk = int(fields.get("bill_sec") or 30) if answered else 0
        answer = start + ring if answered else None
        end = start + ring + talk
        tid = fields.get("transaction_id") or str(
            uuid.UUID(int=self.rng.getrandbits(128), version=4)
        )
        if direction == "outbound":
            source, dest = hotline, customer
        elif direction == "local":
            source, dest = ext, fields.get("destination_number") or "102"
        else:
            source, dest = customer, hotline
        agent = self._agent_for(ext)
        record = {
            "transaction_id": tid,
            "direction": direction,
            "source_number": source,
            "destination_number": dest,
            "phone_number": customer if direction != "local" else None,
            "sip_user": ext,
            "sip_number": hotline,
            "disposition": disposition,
            "duration": end - start,
            "bill_sec": talk,
            "answer_sec": ring if answered else 0,
            "record_seconds": talk,
            "time_start_call": start,
            "time_ringing_start": start,
            "time_answer_start": answer,
            "time_end_call": end,
            "time_start_to_answer": ring if answered else None,
            "created_date": end * 1000 + self.rng.randrange(1000),
            "last_updated_date": end * 1000 + 1000 + self.rng.randrange(1000),
            "recording_file_url": (f"https://{self.domain}/recordings/{tid}.mp3" if talk else None),
            "recording_file": f"{tid}.mp3" if talk else None,
            "provider": "viettel",
            "call_out_price": 0 if direction != "outbound" else 900 * ((talk + 59) // 60),
            "note": None,
            "tag": None,
            "ivr": None,
            "is_auto_call": False,
            "user": [{"extension": ext, "full_name": agent["full_name"], "email": agent["email"]}],
            "customer": (
                {"full_name": customer_name, "phone_number": customer}
                if direction != "local"
                else None
            ),
            "create_by": {"full_name": agent["full_name"]} if direction == "outbound" else None,
            "state": "cdr",
            "call_uuid": tid,
            "from_number": source,
            "to_number": dest,
            "hotline": hotline,
        }
        record.update(fields)
        with self._lock:
            self.calls[record["transaction_id"]] = record
        return dict(record)

    def _random_customer_number(self, rng):
        subscriber = "".join(rng.choice(string.digits) for _ in range(7))
        kind = rng.random()
        if kind < 0.08:
            prefix = rng.choice(_OLD_MOBILE_PREFIXES)
            return f"{prefix} {subscriber[:3]} {subscriber[3:]}"
        if kind < 0.22:
            # new area codes (2017) have 11 digits in all; old ones 10 (08, 04) or 11
            code = rng.choice(_LANDLINE_CODES if kind < 0.16 else _OLD_LANDLINE_CODES)
            size = 11 - len(code) if kind < 0.16 else (8 if len(code) == 2 else 7)
            number = rng.choice("23456789") + "".join(
                rng.choice(string.digits) for _ in range(size - 1)
            )
            return f"({code}) {number[:-4]} {number[-4:]}"
        national = rng.choice(_MOBILE_PREFIXES) + subscriber
        style = rng.randrange(5)
        if style == 0:
            return national
        if style == 1:
            return "84" + national[1:]
        if style == 2:
            return f"+84 {national[1:4]} {national[4:7]} {national[7:]}"
        if style == 3:
            return f"{national[:4]}.{national[4:7]}.{national[7:]}"
        return f"{national[:4]} {national[4:7]} {national[7:]}"

    def generate_calls(self, n, start_ts=None, end_ts=None, seed=None):
        """Generate and store ``n`` finished calls spread over [start_ts, end_ts] (seconds)."""
        rng = random.Random(seed) if seed is not None else self.rng
        end_ts = int(end_ts if end_ts is not None else _now())
        start_ts = int(start_ts if start_ts is not None else end_ts - 86400)
        extensions = list(self.phones) or ["101", "102", "103"]
        records = []
        for _ in range(int(n)):
            direction = rng.choices(("inbound", "outbound", "local"), (45, 45, 10))[0]
            disposition = rng.choices(
                ("answered", "cancelled", "busy", "no_answer"), (60, 15, 10, 15)
            )[0]
            ext = rng.choice(extensions)
            fields = {
                "transaction_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "direction": direction,
                "sip_user": ext,
                "disposition": disposition,
                "time_start_call": rng.randint(start_ts, max(start_ts, end_ts - 60)),
                "ring_sec": rng.randint(2, 25),
                "bill_sec": rng.randint(5, 600) if disposition == "answered" else 0,
                "phone_number": self._random_customer_number(rng),
                "sip_number": rng.choice(self.hotlines) if self.hotlines else "",
            }
            if rng.random() < 0.5:
                fields["customer_name"] = " ".join(
                    (rng.choice(_LAST), rng.choice(_MIDDLE), rng.choice(_FIRST))
                )
            if direction == "local":
                others = [e for e in extensions if e != ext] or ["102"]
                fields["destination_number"] = rng.choice(others)
            records.append(self.add_call(**fields))
        return records

    def complete_call(self, call_uuid, disposition="answered", bill_sec=30):
        """Finish a call started by click-to-call; returns the final record."""
        with self._lock:
            record = next((c for c in self.calls.values() if c.get("call_uuid") == call_uuid), None)
            if record is None:
                raise SimError("resource_not_found", 404)
            now = int(_now())
            start = record["time_start_call"]
            talk = int(bill_sec) if disposition == "answered" else 0
            ring = max(1, min(20, now - start - talk)) if now > start else 3
            answer = start + ring if talk else None
            end = start + ring + talk
            record.update(
                disposition=disposition,
                state="cdr",
                bill_sec=talk,
                answer_sec=ring if answer else 0,
                record_seconds=talk,
                duration=end - start,
                time_answer_start=answer,
                time_start_to_answer=ring if answer else None,
                time_end_call=end,
                last_updated_date=end * 1000 + 500,
                recording_file_url=(
                    f"https://{self.domain}/recordings/{record['transaction_id']}.mp3"
                    if talk
                    else None
                ),
                recording_file=f"{record['transaction_id']}.mp3" if talk else None,
            )
            self.calls.touch()
            return dict(record)

    # ------------------------------------------------------------------ routing
    def ask_route(self, number, hotline):
        """The extensions the routing URL answers for a caller (as OmiCall asks at ring time:
        ``GET <url>?phoneNumber=&sipNumber=``, ``X-API-KEY``, at most ROUTE_TIMEOUT seconds);
        None without a routing URL, [] for an empty answer, an error or a time-out."""
        with self._lock:
            url, key = self.route_url, self.route_api_key
        if not url:
            return None
        query = urllib.parse.urlencode({"phoneNumber": number, "sipNumber": hotline or ""})
        req = urllib.request.Request(f"{url}{'&' if '?' in url else '?'}{query}", method="GET")
        if key:
            req.add_header("X-API-KEY", key)
        try:
            with urllib.request.urlopen(req, timeout=ROUTE_TIMEOUT) as resp:
                text = resp.read(4096).decode("utf-8", "replace") if resp.status == 200 else ""
        except (OSError, urllib.error.URLError, ValueError):
            text = ""
        extensions = [part.strip() for part in text.strip().split(":") if part.strip()]
        with self._lock:
            self.route_answers.append((number, hotline, extensions))
        return extensions

    # ------------------------------------------------------------------ live calls
    def ring_events(self, extension, number, answer=True, ring_sec=4, talk_sec=8):
        """``[(delay in seconds, body)]`` of one inbound call as live events, then its record:
        ringing, answered (unless ``answer`` is false), hangup, final record (``state: cdr``).

        With a routing URL set, the PBX asks it first: the extensions it answers ring (the
        first one answers) instead of `extension`."""
        hotline = self.hotlines[0] if self.hotlines else ""
        routed = self.ask_route(number, hotline)
        ringing = [str(ext) for ext in routed] if routed else [str(extension)]
        extension, start = ringing[0], int(_now())
        # a new id every time, even after a restart of a seeded simulator: a call that ended
        # in an earlier session would not ring again
        tid = str(uuid.uuid4())
        agent = self._agent_for(extension)
        live = {
            "transaction_id": tid,
            "call_uuid": tid,
            "direction": "inbound",
            "phone_number": number,
            "from_number": number,
            "to_number": hotline,
            "hotline": hotline,
            "time_start_call": start,
            "users_status": [{"extension": ext, "answer_at": None} for ext in ringing],
        }
        events = [(0.0, {**live, "state": "ringing", "event_time": start * 1000})]
        if answer:
            answered = start + ring_sec
            events.append(
                (
                    float(ring_sec),
                    {
                        **live,
                        "state": "answered",
                        "sip_user": extension,
                        "time_answer_start": answered,
                        "users_status": [{"extension": extension, "answer_at": answered * 1000}],
                    },
                )
            )
        stop = float(ring_sec + (talk_sec if answer else 0))
        hangup = {
            **live,
            "state": "hangup",
            "sip_user": extension,
            "time_end_call": int(start + stop),
            "disposition": "answered" if answer else "cancelled",
        }
        events.append((stop - (ring_sec if answer else 0), hangup))
        record = self.add_call(
            ring_sec=ring_sec,
            transaction_id=tid,
            call_uuid=tid,
            direction="inbound",
            phone_number=number,
            sip_user=extension,
            time_start_call=start,
            disposition="answered" if answer else "cancelled",
            bill_sec=talk_sec if answer else 0,
            user=[{"extension": extension, "full_name": agent["full_name"]}],
        )
        events.append((1.0, record))
        return events

    def ring(self, url, extension, number, answer=True, ring_sec=4, talk_sec=8, wait=True):
        """Send ``ring_events`` to `url` with their delays (in a thread unless ``wait``);
        returns the call id and, when waiting, the HTTP statuses."""
        events = self.ring_events(extension, number, answer, ring_sec, talk_sec)
        statuses = []

        def run():
            for delay, body in events:
                time.sleep(delay)
                statuses.append(_post(url, body))

        if wait:
            run()
        else:
            threading.Thread(target=run, name="vpbx-sim-ring", daemon=True).start()
        return events[0][1]["transaction_id"], statuses

    # ------------------------------------------------------------------ pushing
    def push(self, url, records, batch=False, form=False, timeout=10):
        """POST each record (or the whole list when ``batch``) to a webhook URL.

        Returns the HTTP statuses; 0 stands for a connection failure.
        """
        bodies = [list(records)] if batch else list(records)
        return [_post(url, body, form=form, timeout=timeout) for body in bodies]

    def push_to_registered(self, records, hook_type="call", **kw):
        with self._lock:
            hook = self.webhooks.get(hook_type)
        if not hook:
            return []
        return self.push(hook["url"], records, **kw)

    # ------------------------------------------------------------------ HTTP dispatch
    def handle(self, method, raw_path, headers, body_bytes):
        """Answer one request: returns (status, headers, body bytes) or None to drop it."""
        parts = urllib.parse.urlsplit(raw_path)
        path = parts.path.rstrip("/") or "/"
        query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
        body, bad_json = None, False
        if body_bytes:
            ctype = headers.get("Content-Type", "")
            if "json" in ctype or body_bytes[:1] in (b"{", b"["):
                try:
                    body = json.loads(body_bytes)
                except ValueError:
                    bad_json = True
            else:
                body = dict(urllib.parse.parse_qsl(body_bytes.decode("utf-8", "replace")))
        control = self._control.get((method, path))
        if control:
            try:
                return _json_reply(200, control(body if isinstance(body, dict) else {}))
            except (SimError, ValueError, TypeError, KeyError) as exc:
                return _json_reply(400, {"ok": False, "error": str(exc)})
        route = self._routes.get((method, path))
        endpoint = route[0] if route else None
        with self._lock:
            self.requests_log.append(
                {
                    "endpoint": endpoint,
                    "method": method,
                    "path": path,
                    "query": {k: ("***" if k == "apiKey" else v) for k, v in query.items()},
                    "json": body,
                    "headers": {
                        k: headers.get(k)
                        for k in ("Authorization", "X-API-KEY", "Content-Type")
                        if headers.get(k) is not None
                    },
                    "time": _now(),
                }
            )
        if not route:
            return _json_reply(404, error_envelope("resource_not_found"))
        fault = self._take_fault(endpoint)
        if fault:
            reply = self._apply_fault(fault)
            if reply != "continue":
                return reply
        try:
            if bad_json:
                raise SimError("data_is_required", 400, "body is not valid JSON")
            if endpoint != "auth":
                self._check_auth(headers)
            payload = route[1](query, body if body is not None else {})
            return _json_reply(200, payload)
        except SimError as err:
            return _json_reply(err.http_status, error_envelope(err.code, err.message))

    def _apply_fault(self, fault):
        kind, opts = fault["kind"], fault["opts"]
        if kind == "slow":
            time.sleep(float(opts.get("delay", 2.0)))
            return "continue"
        if kind == "close":
            return None
        if kind == "http_500":
            return _json_reply(
                500, {"timestamp": _ms(_now()), "status": 500, "error": "Internal Server Error"}
            )
        if kind == "http_502_html":
            html = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
            return 502, {"Content-Type": "text/html"}, html
        if kind == "malformed_json":
            return 200, {"Content-Type": "application/json"}, b'{"status_code": 9999, "payload": '
        if kind == "token_expired":
            body = error_envelope("token_expired")
            body["status_code"] = int(opts.get("status_code", 401))
            return _json_reply(int(opts.get("http_status", 401)), body)
        if kind == "rate_limit":
            status, headers, data = _json_reply(
                int(opts.get("http_status", 429)), error_envelope("rate_limit_exceeded")
            )
            if opts.get("retry_after") is not None:
                headers["Retry-After"] = str(opts["retry_after"])
            return status, headers, data
        # kind == "error"
        code = opts.get("code", "invite_error")
        return _json_reply(
            int(opts.get("http_status", 200)), error_envelope(code, opts.get("message"))
        )

    def _check_auth(self, headers):
        auth = headers.get("Authorization") or ""
        key = headers.get("X-API-KEY")
        now = _now()
        with self._lock:
            if self.accept_api_key_header and key and key == self.api_key:
                return
            if self.accept_bearer and auth.startswith("Bearer "):
                token = auth[7:].strip()
                expires_at = self.tokens.get(token)
                if expires_at is not None and expires_at > now:
                    return
                if expires_at is not None or token in self.expired_tokens:
                    raise SimError("token_expired", 401)
        raise SimError("auth_invalid", 401)

    # ------------------------------------------------------------------ API handlers
    def _h_auth(self, query, body):
        key = query.get("apiKey")
        if not key:
            raise SimError("api_key_is_required", 401)
        if key != self.api_key:
            raise SimError("api_key_invalid", 401)
        token = "eyJhbGciOiJIUzI1NiJ9." + secrets.token_urlsafe(32)
        with self._lock:
            self.tokens[token] = _now() + self.token_lifetime
            self.auth_count += 1
        return envelope({"access_token": token, "token_type": "Bearer", "access_type": "normal"})

    def _h_invite(self, query, body):
        if not isinstance(body, dict) or not body:
            raise SimError("data_is_required")
        full_name = (body.get("full_name") or "").strip()
        email = (body.get("identify_info") or body.get("email") or "").strip()
        password = body.get("password") or None
        role = body.get("role")
        if not full_name:
            raise SimError("full_name_is_required")
        if not _EMAIL_RE.match(email):
            raise SimError("identify_info_invalid")
        if self.require_role and not role:
            raise SimError("role_is_required")
        if password is not None and not password_ok(str(password)):
            raise SimError("password_invalid")
        with self._lock:
            if any(a["email"].lower() == email.lower() for a in self.agents):
                raise SimError("agent_exists")
            if self.agent_limit is not None and len(self.agents) >= self.agent_limit:
                raise SimError("limit_agent")
            agent = self.add_agent(full_name, email, password=password, role=role or "agent")
            layout = self.invite_layout
        summary = {
            "agent_id": agent["agent_id"],
            "full_name": full_name,
            "email": email,
            "role": agent["role"],
        }
        if layout == "pbx_account":
            summary["pbx_account"] = {
                "sip_realm": agent["domain"],
                "username": agent["extension"],
                "sip_password": agent["password"],
            }
            return envelope(summary)
        if layout == "root":
            return envelope(
                summary,
                domain=agent["domain"],
                extension=agent["extension"],
                password=agent["password"],
            )
        summary.update(
            domain=agent["domain"], sip_user=agent["extension"], password=agent["password"]
        )
        return envelope(summary)

    @staticmethod
    def _page_args(query, max_size=None):
        try:
            page = max(1, int(query.get("page") or 1))
            size = max(1, int(query.get("size") or 20))
        except ValueError as exc:
            raise SimError("data_is_required", 400, "page and size must be integers") from exc
        if max_size:
            size = min(size, max_size)
        return page, size

    def _paged(self, items, query, max_size=None):
        page, size = self._page_args(query, max_size)
        return self._page_envelope(items[(page - 1) * size : page * size], page, size, len(items))

    @staticmethod
    def _page_envelope(chunk, page, size, total):
        pages = max(1, -(-total // size))
        return envelope(
            {
                "items": chunk,
                "page_number": page,
                "page_size": size,
                "total_items": total,
                "total_pages": pages,
                "has_next": page < pages,
                "next_page": page + 1 if page < pages else None,
                "has_previous": page > 1,
                "previous_page": page - 1 if page > 1 else None,
            }
        )

    def _h_agent_list(self, query, body):
        keyword = (query.get("keyword") or "").lower()
        with self._lock:
            items = [
                dict(a)
                for a in self.agents
                if not keyword
                or keyword in a["full_name"].lower()
                or keyword in a["email"].lower()
                or keyword in a["extension"]
            ]
        return self._paged(items, query)

    def _h_phone_list(self, query, body):
        keyword = (query.get("keyword") or "").lower()
        with self._lock:
            items = [
                dict(p)
                for p in self.phones.values()
                if not keyword
                or keyword in p["sip_user"]
                or keyword in (p["email"] or "").lower()
                or keyword in (p["full_name"] or "").lower()
            ]
        return self._paged(items, query)

    def _h_click2call(self, query, body):
        extension = str(body.get("extension") or "").strip()
        hotline = str(body.get("hotline") or "").strip()
        phone = str(body.get("phone_number") or "").strip()
        if not extension or not phone:
            raise SimError("data_is_required")
        with self._lock:
            if extension not in self.phones:
                raise SimError("extension_invalid")
            hotline = hotline or (self.hotlines[0] if self.hotlines else "")
            if self.hotlines and _digits(hotline) not in {_digits(h) for h in self.hotlines}:
                raise SimError("number_call_out_invalid", message="hotline not found")
            if not 3 <= len(_digits(phone)) <= 15 or re.search(r"[^\d\s.+()-]", phone):
                raise SimError("number_call_out_invalid")
            flags = self.extension_flags.get(extension, {"registered": True, "busy": False})
            if not flags["registered"]:
                raise SimError("user_not_registered")
            if flags["busy"]:
                raise SimError("user_busy")
            if _digits(phone) in {_digits(p) for p in self.do_not_call}:
                raise SimError("do_not_call")
            call_uuid = str(uuid.uuid4())
            now = int(_now())
            record = self.add_call(
                transaction_id=call_uuid,
                direction="outbound",
                sip_user=extension,
                phone_number=phone,
                sip_number=hotline,
                time_start_call=now,
            )
            # still ringing: finished later by complete_call()
            record.update(
                state="ringing",
                disposition=None,
                duration=0,
                bill_sec=0,
                answer_sec=0,
                record_seconds=0,
                time_answer_start=None,
                time_start_to_answer=None,
                time_end_call=None,
                recording_file_url=None,
                recording_file=None,
            )
            self.calls[call_uuid] = record
        return envelope({"call_uuid": call_uuid})

    def _history_index(self):
        """The finished calls as ``(keys, entries)`` sorted by start time, ascending and
        descending: ``entries`` are ``(time_start_call, position in calls, record)``, ties in
        the order the calls were stored (as a stable sort of ``calls`` gives), ``keys`` the
        start times (negated for descending) to bisect on. Rebuilt only after ``calls``
        changed; None when a finished call's start time is not a plain number (the search then
        scans the calls as it always did). Call it with the lock held."""
        calls = self.calls
        cached = self._history
        if cached is not None and cached[0] is calls and cached[1] == calls.version:
            return cached[2]
        entries = []
        for position, call in enumerate(calls.values()):
            if call.get("time_end_call") is None:
                continue
            start = call.get("time_start_call")
            if type(start) not in (int, float) or start != start:  # noqa: PLR0124 (NaN)
                entries = None
                break
            entries.append((start, position, call))
        index = None
        if entries is not None:
            ascending = sorted(entries, key=lambda e: (e[0], e[1]))
            descending = sorted(entries, key=lambda e: (-e[0], e[1]))
            index = {
                "asc": ([e[0] for e in ascending], ascending),
                "desc": ([-e[0] for e in descending], descending),
            }
        self._history = (calls, calls.version, index)
        return index

    def _search(self, query, criteria, sort):
        if (
            not isinstance(criteria, dict)
            or "fromDate" not in criteria
            or ("toDate" not in criteria)
        ):
            raise SimError("data_is_required", 400, "fromDate and toDate are required")
        try:
            lo, hi = (float(criteria["fromDate"]), float(criteria["toDate"]))
        except (TypeError, ValueError) as exc:
            raise SimError("data_is_required", 400, "fromDate/toDate must be numbers") from exc
        # robust rule of the API doc: below 1e12 is seconds
        lo, hi = (v / 1000 if v >= 1e12 else v for v in (lo, hi))

        def wanted(key):
            values = criteria.get(key)
            return {str(v) for v in values} if values else None

        directions, sip_users = wanted("directions"), wanted("sipUsers")
        sip_numbers, ids = wanted("sipNumbers"), wanted("transactionIds")
        phones = {_digits(p) for p in criteria.get("phoneNumbers") or []} or None
        filtered = directions or sip_users or sip_numbers or ids or phones

        def keep(c):
            return (
                (not directions or c["direction"] in directions)
                and (not sip_users or c["sip_user"] in sip_users)
                and (not sip_numbers or c["sip_number"] in sip_numbers)
                and (not ids or c["transaction_id"] in ids)
                and (not phones or _digits(c.get("phone_number")) in phones)
            )

        field = (sort or {}).get("field") or "time_start_call"
        descending = not (sort or {}).get("isAsc", False)
        page, size = self._page_args(query, MAX_PAGE_SIZE)
        with self._lock:
            index = self._history_index()
            if index is None:
                # a start time that is not a number: the plain scan (and its errors)
                items = [
                    c
                    for c in self.calls.values()
                    if c.get("time_end_call") is not None
                    and lo <= c["time_start_call"] <= hi
                    and keep(c)
                ]
                entries = None
            elif field == "time_start_call":
                # the window in the index sorted as asked: no sort at all
                keys, entries = index["desc" if descending else "asc"]
                if descending:
                    first, end = bisect.bisect_left(keys, -hi), bisect.bisect_right(keys, -lo)
                else:
                    first, end = bisect.bisect_left(keys, lo), bisect.bisect_right(keys, hi)
                if filtered:
                    items = [e[2] for e in entries[first:end] if keep(e[2])]
                    entries = None
            else:
                # another sort field: the window's calls back in stored order, then the sort
                keys, window = index["asc"]
                window = window[bisect.bisect_left(keys, lo) : bisect.bisect_right(keys, hi)]
                window = sorted((e for e in window if keep(e[2])), key=lambda e: e[1])
                items = [e[2] for e in window]
                entries = None
            if entries is None:
                if index is None or field != "time_start_call":
                    items.sort(
                        key=lambda c: (c.get(field) is None, c.get(field) or 0),
                        reverse=descending,
                    )
                total = len(items)
                chunk = items[(page - 1) * size : page * size]
            else:
                total = max(0, end - first)
                lower = first + (page - 1) * size
                chunk = [e[2] for e in entries[lower : min(end, lower + size)]]
            chunk = [dict(c) for c in chunk]
        return self._page_envelope(chunk, page, size, total)

    def _h_history_v2(self, query, body):
        return self._search(query, body, None)

    def _h_history_v3(self, query, body):
        return self._search(query, body.get("filter"), body.get("sort"))

    def _h_webhook_list(self, query, body):
        with self._lock:
            return envelope([dict(h) for h in self.webhooks.values()])

    def _h_webhook_register(self, query, body):
        hook = body.get("webhook") if isinstance(body.get("webhook"), dict) else body
        url = (hook or {}).get("url")
        if not url or not str(url).startswith(("http://", "https://")):
            raise SimError("data_is_required", message="webhook url is required")
        hook_type = hook.get("type") or "call"
        record = {"type": hook_type, "url": url, "events": hook.get("events")}
        with self._lock:
            self.webhooks[hook_type] = record
        return envelope(dict(record))

    def _h_webhook_destroy(self, query, body):
        hook_type = query.get("hook_type") or body.get("hook_type")
        if not hook_type:
            raise SimError("data_is_required")
        with self._lock:
            if self.webhooks.pop(hook_type, None) is None:
                raise SimError("resource_not_found")
        return envelope({"type": hook_type, "destroyed": True})

    # ------------------------------------------------------------------ control handlers
    def _c_fault(self, body):
        opts = {k: v for k, v in body.items() if k not in ("endpoint", "kind", "count")}
        self.inject_fault(body.get("endpoint", "*"), body["kind"], body.get("count", 1), **opts)
        return {"ok": True, "faults": len(self.faults)}

    def _c_clear_faults(self, body):
        self.clear_faults()
        return {"ok": True}

    def _c_generate(self, body):
        records = self.generate_calls(
            int(body.get("n", 10)), body.get("start_ts"), body.get("end_ts"), body.get("seed")
        )
        result = {"ok": True, "generated": len(records), "webhook": None}
        if body.get("push"):
            hook = self.webhooks.get(body.get("hook_type", "call"))
            result["webhook"] = hook["url"] if hook else None
            statuses = self.push_to_registered(
                records, body.get("hook_type", "call"), batch=bool(body.get("batch"))
            )
            result["pushed"] = dict(collections.Counter(str(s) for s in statuses))
        return result

    def _c_complete(self, body):
        record = self.complete_call(
            body["call_uuid"], body.get("disposition", "answered"), body.get("bill_sec", 30)
        )
        statuses = self.push_to_registered([record]) if body.get("push") else []
        return {"ok": True, "record": record, "pushed": statuses}

    def _c_ring(self, body):
        """Ring an extension: the live events and the record go to the registered webhook
        (call_event, else call) with realistic delays, in the background."""
        with self._lock:
            hook = self.webhooks.get("call_event") or self.webhooks.get("call")
        url = body.get("url") or (hook and hook["url"])
        if not url:
            raise ValueError("no webhook registered and no url given")
        call_id, _statuses = self.ring(
            url,
            body.get("extension") or "101",
            body.get("number") or "0938246810",
            answer=body.get("answer", True),
            ring_sec=float(body.get("ring_sec", 4)),
            talk_sec=float(body.get("talk_sec", 8)),
            wait=False,
        )
        with self._lock:
            routed = self.route_answers[-1][2] if self.route_url and self.route_answers else None
        return {"ok": True, "transaction_id": call_id, "url": url, "routed": routed}

    def _c_add_agent(self, body):
        agent = self.add_agent(
            body["full_name"], body["email"], body.get("extension"), body.get("password")
        )
        return {"ok": True, "agent": agent}

    def _c_extension(self, body):
        flags = self.set_extension(body["extension"], body.get("registered"), body.get("busy"))
        return {"ok": True, "extension": str(body["extension"]), **flags}

    def _c_config(self, body):
        with self._lock:
            if "invite_layout" in body:
                if body["invite_layout"] not in INVITE_LAYOUTS:
                    raise ValueError(f"invite_layout must be one of {INVITE_LAYOUTS}")
                self.invite_layout = body["invite_layout"]
            for key in ("agent_limit", "require_role", "accept_bearer", "accept_api_key_header"):
                if key in body:
                    setattr(self, key, body[key])
            if "do_not_call" in body:
                self.do_not_call = set(body["do_not_call"] or [])
            if "hotlines" in body:
                self.hotlines = list(body["hotlines"] or [])
            for key in ("route_url", "route_api_key"):
                if key in body:
                    setattr(self, key, body[key] or None)
        return {"ok": True, **self._c_state({})}

    def _c_reset(self, body):
        self.reset()
        return {"ok": True}

    def _c_expire_tokens(self, body):
        self.expire_tokens()
        return {"ok": True}

    def _c_state(self, body):
        with self._lock:
            return {
                "url": self.url,
                "agents": len(self.agents),
                "extensions": sorted(self.phones),
                "calls": len(self.calls),
                "tokens": len(self.tokens),
                "auth_count": self.auth_count,
                "webhooks": [dict(h) for h in self.webhooks.values()],
                "faults": [dict(f) for f in self.faults],
                "requests": len(self.requests_log),
                "invite_layout": self.invite_layout,
                "agent_limit": self.agent_limit,
                "require_role": self.require_role,
                "hotlines": list(self.hotlines),
                "do_not_call": sorted(self.do_not_call),
            }


def _json_reply(status, data):
    body = json.dumps(data, ensure_ascii=False).encode()
    return status, {"Content-Type": "application/json; charset=utf-8"}, body


def _post(url, body, form=False, timeout=10):
    """POST one webhook body; returns the HTTP status, 0 when no answer came."""
    if form:
        flat = {
            k: v if isinstance(v, str) else json.dumps(v)
            for k, v in (body.items() if isinstance(body, dict) else {"data": body}.items())
        }
        data = urllib.parse.urlencode(flat).encode()
        ctype = "application/x-www-form-urlencoded"
    else:
        data = json.dumps(body, ensure_ascii=False).encode()
        ctype = "application/json"
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, urllib.error.URLError):
        return 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SentechVpbxSimulator/1.0"
    # headers and body go out in two writes: without this, Nagle + delayed ACK add ~40 ms
    disable_nagle_algorithm = True
    sim = None  # set on the subclass built by VpbxSimulator.start()

    def log_message(self, format, *args):
        pass  # quiet: requests_log holds what tests need

    def _serve(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        reply = self.sim.handle(method, self.path, self.headers, body)
        if reply is None:
            # fault 'close': drop the connection without a word
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        status, headers, data = reply
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def do_DELETE(self):
        self._serve("DELETE")


# ---------------------------------------------------------------------- CLI
def _cmd_serve(args):
    if not _is_loopback(args.host):
        print(
            f"refusing to listen on {args.host}: the simulator is for loopback only",
            file=sys.stderr,
        )
        return 2
    sim = VpbxSimulator(
        api_key=args.api_key,
        host=args.host,
        port=args.port,
        token_lifetime=args.token_lifetime,
        domain=args.domain,
        seed=args.seed,
    )
    sim.route_url = args.route_url
    sim.route_api_key = args.route_api_key
    for i in range(args.agents):
        sim.add_agent(f"Demo Agent {i + 1}", f"agent{i + 1}@example.com")
    if args.calls:
        sim.generate_calls(args.calls)
    sim.start()
    print(f"VPBX simulator on {sim.url} (API key {args.api_key!r}); Ctrl-C stops it", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


def _cmd_push(args):
    sim = VpbxSimulator(seed=args.seed)
    for i in range(args.agents):
        sim.add_agent(f"Demo Agent {i + 1}", f"agent{i + 1}@example.com")
    records = sim.generate_calls(args.count)
    rng = random.Random(args.seed)
    # duplicates: the same transaction sent again, as the PBX does with live events
    extra = [dict(rng.choice(records)) for _ in range(int(len(records) * args.duplicates))]
    bodies = records + extra
    rng.shuffle(bodies)
    latencies = []
    statuses = collections.Counter()
    lock = threading.Lock()

    def send(body):
        started = time.monotonic()
        status = _post(args.url, body, form=args.form, timeout=args.timeout)
        with lock:
            latencies.append(time.monotonic() - started)
            statuses[status] += 1

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max(1, args.concurrency)) as pool:
        list(pool.map(send, bodies))
    elapsed = time.monotonic() - started
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
    summary = {
        "url": args.url,
        "sent": len(bodies),
        "unique_calls": len(records),
        "duplicates": len(extra),
        "ok": ok,
        "failed": len(bodies) - ok,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "elapsed_s": round(elapsed, 3),
        "per_second": round(len(bodies) / elapsed, 1) if elapsed else None,
        "latency_ms": {
            "p50": round(pct(0.5), 1),
            "p95": round(pct(0.95), 1),
            "max": round(latencies[-1] * 1000, 1),
        }
        if latencies
        else None,
    }
    print(json.dumps(summary, indent=2))
    return 0 if ok == len(bodies) else 1


def _cmd_ring(args):
    sim = VpbxSimulator()
    call_id, statuses = sim.ring(
        args.url,
        args.extension,
        args.number,
        answer=not args.missed,
        ring_sec=args.ring_sec,
        talk_sec=args.talk_sec,
    )
    print(json.dumps({"transaction_id": call_id, "statuses": statuses}))
    return 0 if all(200 <= status < 300 for status in statuses) else 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="run the simulator on loopback")
    p_serve.add_argument("--host", default="127.0.0.1")
    p_serve.add_argument("--port", type=int, default=8071)
    p_serve.add_argument("--api-key", default="sim-api-key")
    p_serve.add_argument("--token-lifetime", type=int, default=86400, help="seconds")
    p_serve.add_argument("--domain", default="sentech.vpbx.local")
    p_serve.add_argument("--seed", type=int)
    p_serve.add_argument("--agents", type=int, default=0, help="demo agents to create")
    p_serve.add_argument("--calls", type=int, default=0, help="history calls to generate")
    p_serve.add_argument(
        "--route-url", help="routing URL asked at ring time (Odoo's /vpbx/route/<token>)"
    )
    p_serve.add_argument("--route-api-key", help="X-API-KEY sent to the routing URL")
    p_push = sub.add_parser("push", help="send generated calls to a webhook URL")
    p_push.add_argument("--url", required=True)
    p_push.add_argument("--count", type=int, default=100)
    p_push.add_argument("--duplicates", type=float, default=0.0, help="share resent, e.g. 0.1")
    p_push.add_argument("--concurrency", type=int, default=4)
    p_push.add_argument("--agents", type=int, default=3)
    p_push.add_argument("--seed", type=int)
    p_push.add_argument("--form", action="store_true", help="form-encoded instead of JSON")
    p_push.add_argument("--timeout", type=float, default=10.0)
    p_ring = sub.add_parser(
        "ring", help="ring an extension: ringing, answered, hangup, record to a webhook URL"
    )
    p_ring.add_argument("--url", required=True)
    p_ring.add_argument("--extension", default="101")
    p_ring.add_argument("--number", default="0938246810")
    p_ring.add_argument("--missed", action="store_true", help="nobody answers")
    p_ring.add_argument("--ring-sec", type=float, default=4.0)
    p_ring.add_argument("--talk-sec", type=float, default=8.0)
    args = parser.parse_args(argv)
    commands = {"serve": _cmd_serve, "push": _cmd_push, "ring": _cmd_ring}
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
