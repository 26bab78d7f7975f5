"""Fixtures shared by the test modules: payloads as the PBX sends them, a PBX account, and an
HTTP test case posting to its webhook."""

import contextlib
import json
import threading
import uuid
from datetime import datetime, timezone
from unittest.mock import patch

import requests

from odoo import SUPERUSER_ID, Command, api
from odoo.modules.registry import DummyRLock, Registry
from odoo.sql_db import Cursor, db_connect
from odoo.tests import HttpCase

EVENT_LOGGER = "odoo.addons.sentech_vpbx.models.vpbx_webhook_event"
CALL_LOGGER = "odoo.addons.sentech_vpbx.models.vpbx_call"
#: The buttons of a PBX account that act on the PBX or on its secrets (VPBX managers only)
PBX_BUTTONS = (
    "action_regenerate_webhook_token",
    "action_test_connection",
    "action_sync_now",
    "action_register_webhook",
    "action_list_webhooks",
    "action_remove_webhook",
)
#: 2025-03-10 10:00 in Hồ Chí Minh City
BASE_TIME = int(datetime(2025, 3, 10, 3, 0, tzinfo=timezone.utc).timestamp())


def call_payload(call_id, number="0912345678", **fields):
    """A finished call as the PBX documents it (docs/pbx-api.md, "Call records"); `fields`
    override."""
    start = fields.pop("start", BASE_TIME)
    missed = fields.pop("missed", False)
    data = {
        "transaction_id": call_id,
        "direction": "inbound",
        "phone_number": number,
        "sip_user": "9101",
        "sip_number": "842888806669",
        "disposition": "cancelled" if missed else "answered",
        "time_start_call": start,
        "time_end_call": start + 65,
        "duration": 65,
        "bill_sec": 0 if missed else 60,
        "recording_file_url": f"https://rec.example.com/{call_id}.mp3",
    }
    if missed:
        data.pop("recording_file_url")
    data.update(fields)
    return {key: value for key, value in data.items() if value is not None}


def live_payload(call_id, number="0912345678", state="ringing", **fields):
    data = {
        "transaction_id": call_id,
        "direction": "inbound",
        "phone_number": number,
        "sip_user": "9101",
        "state": state,
        "time_start_call": BASE_TIME,
    }
    data.update(fields)
    return data


@contextlib.contextmanager
def statements(marker):
    """The SQL statements run in the block whose text holds `marker` (a list, filled as they
    run)."""
    found = []
    execute = Cursor.execute

    def spy(cr, query, params=None, log_exceptions=True):
        if marker in str(query):
            found.append(query)
        return execute(cr, query, params, log_exceptions)

    with patch.object(Cursor, "execute", spy):
        yield found


def rows_walked(cr, query, params):
    """Rows the plan of `query` read and threw away (EXPLAIN ANALYZE's "Rows Removed by
    Filter", every node), whatever scan the planner chose: a claim of the oldest waiting row
    that walks past the done ones shows them here."""
    cr.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {query}", params)
    nodes, removed = [cr.fetchone()[0][0]["Plan"]], 0
    while nodes:
        node = nodes.pop()
        removed += node.get("Rows Removed by Filter", 0)
        nodes.extend(node.get("Plans", []))
    return removed


def make_pbx(env, company=None, **vals):
    """A PBX account of `company` (default: the current one), first of its company (sequence
    0), so that employees created afterwards get it by default. Returns it with its token."""
    company = company or env.company
    # most tests read the calls right after the answer: processed before it (the queue's own
    # tests, and those of the default, switch the queue on)
    vals.setdefault("webhook_queued", False)
    pbx = env["vpbx.pbx"].create(
        {
            "name": vals.pop("name", f"Test PBX {company.name}"),
            "company_id": company.id,
            "sequence": 0,
            **vals,
        }
    )
    return pbx


def real_env(registry, cr, uid=SUPERUSER_ID, context=None):
    """An environment on a cursor of its own (not the test's): the test runner holds the
    registry lock, so the registry is handed over instead of being looked up."""
    cr.transaction = api.Transaction(registry)
    return api.Environment(cr, uid, context or {})


def at_once(dbname, work, count=4):
    """Run ``work(cr)`` on `count` database connections of their own, released at the same
    moment; returns ``(results, errors)``."""
    barrier = threading.Barrier(count)
    results, errors = [], []

    def worker():
        try:
            with db_connect(dbname).cursor() as cr:
                barrier.wait(30)
                results.append(work(cr))
        except Exception as error:  # reported by the caller's assertions
            errors.append(error)

    threads = [threading.Thread(target=worker) for _index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results, errors


def remove_committed_company(env, company_id):
    """Delete a company a test committed (then commit), or archive it when its data keeps it."""
    try:
        with env.cr.savepoint():
            env["res.company"].browse(company_id).unlink()
    except Exception:  # a company with data cannot always go
        env["res.company"].browse(company_id).active = False
    env.cr.commit()  # pylint: disable=invalid-commit


class VpbxWebhookCommon(HttpCase):
    """A PBX account with a webhook token in a Vietnamese company, no other contact or lead
    holding a Vietnamese number."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.company.country_id = cls.env.ref("base.vn")
        cls.pbx = make_pbx(cls.env, post_call_note=True, missed_call_user_id=False)
        cls.token = cls.pbx.sudo().webhook_token
        # demo contacts use the very numbers of these tests: take them out of the lookup
        keys = cls.env["vpbx.partner.phone"].search([("key", "=like", "+84%")])
        keys.partner_id.write({"phone": False, "mobile": False})
        # and demo leads and opportunities
        lead_keys = cls.env["vpbx.lead.phone"].search([("key", "=like", "+84%")])
        lead_keys.lead_id.write({"phone": False, "mobile": False})
        cls.env["hr.employee"].search([("vpbx_extension", "=like", "91%")]).vpbx_extension = False
        cls.Call = cls.env["vpbx.call"]
        cls.Event = cls.env["vpbx.webhook.event"]

    def post(self, payload=None, raw=None, token=None, content_type="application/json", **kw):
        data = raw if raw is not None else json.dumps(payload)
        response = self.url_open(
            "/vpbx/webhook/" + (token or self.token),
            data=data,
            headers={"Content-Type": content_type},
            **kw,
        )
        self.env.invalidate_all()
        return response

    def calls(self, call_id):
        return self.Call.search([("vpbx_call_id", "=", call_id), ("pbx_id", "=", self.pbx.id)])

    def events(self):
        return self.Event.search([("pbx_id", "=", self.pbx.id)])

    def notes(self, partner):
        return partner.message_ids.filtered(
            lambda m: m.subtype_id == self.env.ref("mail.mt_note") and "duration" in (m.body or "")
        )


class ConcurrentWebhookCase(HttpCase):
    """Real concurrent deliveries: the test server serves each request in a thread of its own on
    a database connection of its own, as production does across threads, workers and servers,
    instead of funnelling every request through the test's one cursor.

    Other connections do not see the test transaction, so the fixture (a company, its PBX
    account, `_vpbx_fixture`'s records) is committed on a connection of its own and removed at
    the end. Read results with `committed()`.
    """

    registry_test_mode = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # the test runner holds the registry lock while tests run, and the server's threads
        # look the registry up under it: swapped as Registry.enter_test_mode does
        saved_lock, Registry._lock = Registry._lock, DummyRLock()
        cls.addClassCleanup(setattr, Registry, "_lock", saved_lock)
        cls.dbname = cls.env.cr.dbname
        with cls.committed() as env:
            company = env["res.company"].create(
                {
                    "name": f"VPBX concurrency {uuid.uuid4().hex[:8]}",
                    "country_id": env.ref("base.vn").id,
                }
            )
            admin = env.ref("base.user_admin")
            admin.company_ids = [Command.link(company.id)]
            pbx = make_pbx(env, company, post_call_note=True, missed_call_user_id=admin.id)
            cls.company_id, cls.pbx_id = company.id, pbx.id
            cls.token = pbx.webhook_token
            cls._vpbx_fixture(env, company, pbx)
            env.cr.commit()  # pylint: disable=invalid-commit
        cls.addClassCleanup(cls._remove_fixture)

    @classmethod
    def _vpbx_fixture(cls, env, company, pbx):
        """Records of the class's own, committed with the account."""

    @classmethod
    def _vpbx_remove_fixture(cls, env):
        """Remove what `_vpbx_fixture` made (the account's calls and events go with it)."""

    @classmethod
    def _remove_fixture(cls):
        with cls.committed() as env:
            cls._vpbx_remove_fixture(env)
            env["vpbx.pbx"].browse(cls.pbx_id).unlink()
            env.cr.commit()  # pylint: disable=invalid-commit
            remove_committed_company(env, cls.company_id)

    @classmethod
    @contextlib.contextmanager
    def committed(cls):
        """A superuser environment on a connection of its own (committed and closed on exit):
        it sees what the server committed."""
        with db_connect(cls.dbname).cursor() as cr:
            yield real_env(cls.registry, cr)

    def post_all(self, bodies, content_type="application/json"):
        """POST `bodies` to the webhook at the same moment, one connection each; returns the
        statuses in the order of `bodies`."""
        url = f"{self.base_url()}/vpbx/webhook/{self.token}"
        barrier = threading.Barrier(len(bodies))
        statuses = [None] * len(bodies)

        def deliver(index, body):
            with requests.Session() as session:
                barrier.wait(30)
                statuses[index] = session.post(
                    url, data=body, headers={"Content-Type": content_type}, timeout=60
                ).status_code

        threads = [
            threading.Thread(target=deliver, args=(index, body))
            for index, body in enumerate(bodies)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        return statuses
