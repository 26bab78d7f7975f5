"""The live pushes wake the websocket dispatcher through a kept connection (models/bus_notify.py):
a real LISTEN on the ``postgres`` database, as Odoo's dispatcher does, receives them; a kept
connection that died is replaced."""

import json
import select
import time

import psycopg2

from odoo import sql_db
from odoo.sql_db import db_connect
from odoo.tests import TransactionCase, tagged

from ..models import bus_notify
from .common import real_env


def _listener():
    _dbname, info = sql_db.connection_info_for("postgres")
    cnx = psycopg2.connect(**info)
    cnx.autocommit = True
    with cnx.cursor() as cr:
        cr.execute("LISTEN imbus")
    return cnx


def _received(cnx, timeout=5.0):
    """The payloads of the NOTIFY imbus that arrive within `timeout` seconds (all of them)."""
    payloads, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([cnx], [], [], 0.2) == ([], [], []):
            if payloads:
                return payloads
            continue
        cnx.poll()
        while cnx.notifies:
            payloads.append(cnx.notifies.pop(0).payload)
    return payloads


@tagged("post_install", "-at_install")
class TestBusNotify(TransactionCase):
    def setUp(self):
        super().setUp()
        self.listener = _listener()
        self.addCleanup(self.listener.close)

    def test_kept_connection_wakes_and_survives_its_death(self):
        bus_notify.NOTIFIER.notify(['["first"]'])
        self.assertEqual(_received(self.listener), ['["first"]'])
        kept = bus_notify.NOTIFIER._connection()
        bus_notify.NOTIFIER.notify(['["second"]'])
        self.assertEqual(_received(self.listener), ['["second"]'])
        self.assertIs(bus_notify.NOTIFIER._connection(), kept, "one connection, kept")
        # PostgreSQL restarted, an idle time-out: the kept connection is gone
        with self.listener.cursor() as cr:
            cr.execute("SELECT pg_terminate_backend(%s)", [kept.get_backend_pid()])
        bus_notify.NOTIFIER.notify(['["third"]'])
        self.assertEqual(_received(self.listener), ['["third"]'])
        self.assertIsNot(bus_notify.NOTIFIER._connection(), kept)

    def test_send_writes_odoo_rows_and_wakes_after_commit(self):
        partner_ids = self.env["res.partner"].create([{"name": "A"}, {"name": "B"}]).ids
        dbname = self.env.cr.dbname
        # a real commit, as a webhook delivery does (the test's own transaction never commits)
        with db_connect(dbname).cursor() as cr:
            env = real_env(self.registry, cr)
            bus_notify.send(env, [7, 9], "sentech_vpbx/test", {"call_id": 1})
            self.assertEqual(_received(self.listener, timeout=0.5), [], "nothing before commit")
            cr.execute(
                "SELECT channel, message FROM bus_bus WHERE message LIKE %s ORDER BY id",
                ['%"sentech_vpbx/test"%'],
            )
            rows = cr.fetchall()
            cr.rollback()
        self.assertEqual(_received(self.listener, timeout=0.5), [], "nothing after a rollback")
        # what res.users._bus_send would have written: the partner's channel, type and payload
        self.assertEqual(
            [(json.loads(channel), json.loads(message)) for channel, message in rows],
            [
                (
                    [dbname, "res.partner", pid],
                    {"type": "sentech_vpbx/test", "payload": {"call_id": 1}},
                )
                for pid in (7, 9)
            ],
        )
        with db_connect(dbname).cursor() as cr:
            env = real_env(self.registry, cr)
            bus_notify.send(env, partner_ids, "sentech_vpbx/test", {"call_id": 2})
            cr.commit()  # pylint: disable=invalid-commit
            cr.execute("DELETE FROM bus_bus WHERE message LIKE %s", ['%"sentech_vpbx/test"%'])
            cr.commit()  # pylint: disable=invalid-commit
        payloads = _received(self.listener)
        self.assertEqual(
            [json.loads(p) for p in payloads],
            [[[dbname, "res.partner", pid] for pid in partner_ids]],
        )
