"""Live-call pushes over ``bus.bus``, woken through one kept connection per process.

Odoo's ``_bus_send`` stores the notification in ``bus_bus`` and, after the commit, sends
``NOTIFY imbus`` to the websocket dispatcher, which listens on the ``postgres`` database. Odoo
never pools a connection to that database, so every commit that sent something opens and
closes a PostgreSQL connection (a backend started and stopped): measured at 3-7 ms, a third of
what a ringing event cost. Live events are the hot path of the bus here, so ``send`` writes the
same ``bus_bus`` rows as Odoo and wakes the dispatcher through a connection kept by the process
(one per worker; opened again after a fork or a failure, Odoo's way as the last resort). What
the websocket receives is exactly what ``_bus_send`` would have sent.
"""

import contextlib
import logging
import os
import threading

import psycopg2

from odoo import sql_db
from odoo.addons.bus.models.bus import (
    ODOO_NOTIFY_FUNCTION,
    get_notify_payloads,
    json_dump,
)
from odoo.tools import SQL

_logger = logging.getLogger(__name__)


class _Notifier:
    """One autocommit connection to the ``postgres`` database, for ``NOTIFY imbus``."""

    def __init__(self):
        self._lock = threading.Lock()
        self._cnx = None
        self._pid = None

    def _connection(self):
        if self._cnx is None or self._cnx.closed or self._pid != os.getpid():
            # a connection inherited over a fork belongs to the parent: never used, never closed
            self._cnx = None
            _dbname, info = sql_db.connection_info_for("postgres")
            cnx = psycopg2.connect(connect_timeout=5, **info)
            cnx.autocommit = True
            self._cnx, self._pid = cnx, os.getpid()
        return self._cnx

    def _drop(self):
        if self._cnx is not None and self._pid == os.getpid():
            with contextlib.suppress(psycopg2.Error):
                self._cnx.close()
        self._cnx = None

    def notify(self, payloads):
        # the statement of bus.bus's own post-commit hook
        query = SQL("SELECT %s('imbus', %%s)", SQL.identifier(ODOO_NOTIFY_FUNCTION)).code
        with self._lock:
            for _attempt in (1, 2):
                try:
                    with self._connection().cursor() as cr:
                        for payload in payloads:
                            cr.execute(query, (payload,))
                    return
                except psycopg2.Error as error:
                    # the kept connection died (a restart, an idle time-out): once more anew
                    self._drop()
                    failure = error
        _logger.info("VPBX live calls: NOTIFY on the kept connection failed: %s", failure)
        try:
            with sql_db.db_connect("postgres").cursor() as cr:
                for payload in payloads:
                    cr.execute(query, (payload,))
        except psycopg2.Error as error:
            # committed all the same: the websocket finds it in bus_bus on its next wake-up
            _logger.warning("VPBX live calls: the bus could not be woken: %s", error)


NOTIFIER = _Notifier()


def send(env, partner_ids, notification_type, message):
    """What ``res.users._bus_send(notification_type, message)`` does for the users of the
    partners `partner_ids` (their bus channel is their partner's), woken after the commit."""
    send_many(env, notification_type, [(partner_ids, message)])


def send_many(env, notification_type, messages):
    """`send` for each ``(partner ids, message)`` of `messages`, in one INSERT and in their
    order (a batch of the queue pushes many)."""
    channels, bodies = [], []
    for partner_ids, message in messages:
        body = json_dump({"type": notification_type, "payload": message})
        # the key channel_with_db gives a partner's channel, as the websocket subscribes to it
        for pid in partner_ids:
            channels.append((env.cr.dbname, "res.partner", pid))
            bodies.append(body)
    if not channels:
        return
    now = env.cr.now()  # as the ORM's create: a new page replays the bus rows of the last minute
    env.cr.execute(
        "INSERT INTO bus_bus (channel, message, create_uid, write_uid, create_date, write_date)"
        " SELECT c, m, %s, %s, %s, %s"
        " FROM unnest(%s::varchar[], %s::varchar[]) WITH ORDINALITY AS v(c, m, n) ORDER BY n",
        (env.uid, env.uid, now, now, [json_dump(channel) for channel in channels], bodies),
    )
    pending = env.cr.postcommit.data.setdefault("vpbx.bus.channels", {})
    if not pending:

        @env.cr.postcommit.add
        def wake():
            woken = list(env.cr.postcommit.data.pop("vpbx.bus.channels", {}))
            payloads = get_notify_payloads(woken)
            if payloads:
                NOTIFIER.notify(payloads)

    pending.update(dict.fromkeys(channels))  # each channel woken once
