"""Ring-time routing on one kept connection per process and database, its statements prepared.

Odoo's pool lends a connection after ``DISCARD ALL``, which drops prepared statements and
plans: the routing lookup (two key tables, leads, contacts, the salesperson's extension) is then
planned again for every request, ~1.2 ms of planning for ~0.2 ms of execution on the bench
machine, most of what an answer costs beyond ``/web/health``. Here the lookup and the log's
INSERT (of many answers at once, ``batched_rows``) are prepared once, with a generic plan, on
an autocommit connection the process keeps (one per worker and database; opened again after a
fork or a failure), as ``bus_notify`` keeps one for NOTIFY. It sees committed data only, which
is all a routing request reads: the request writes nothing before it asks.

``run`` answers None when this connection cannot be used: under the test runner (whose data is
not committed), for a while after a failure, or on any error (the caller then uses the
request's own cursor, the same statements unprepared).
"""

import contextlib
import logging
import os
import threading
import time

import psycopg2

from odoo import sql_db

_logger = logging.getLogger(__name__)

#: Seconds the kept connection is left alone after it failed (the request's cursor answers)
RETRY_AFTER = 30.0


def numbered(text, names):
    """`text` with its named placeholders (``%(name)s``, psycopg2's) numbered as PREPARE
    wants them (``$1``...), in the order of `names`."""
    for index, name in enumerate(names, 1):
        text = text.replace(f"%({name})s", f"${index}")
    return text


class KeptStatements:
    """Statements prepared on one autocommit connection per database, in this process.

    `statements`: ``{name: (SQL text with psycopg2's named placeholders, their names in
    order)}``, prepared with ``$1``... (their types inferred by PostgreSQL); `settings`: session
    settings (``SET`` statements) run when a connection opens.
    """

    def __init__(self, statements, settings=()):
        self._statements = {
            name: (numbered(text, names), tuple(names))
            for name, (text, names) in statements.items()
        }
        self._settings = tuple(settings)
        self._lock = threading.Lock()
        self._connections = {}
        self._pid = None
        self._failed_at = {}

    def _connection(self, dbname):
        cnx = self._connections.get(dbname)
        if cnx is None or cnx.closed:
            _name, info = sql_db.connection_info_for(dbname)
            cnx = psycopg2.connect(connect_timeout=2, **info)
            try:
                cnx.autocommit = True
                with cnx.cursor() as cr:
                    for setting in self._settings:
                        cr.execute(setting)
                    for name, (text, _names) in self._statements.items():
                        # the module's own constants, no outside text
                        cr.execute(f"PREPARE {name} AS {text}")  # pylint: disable=sql-injection
            except psycopg2.Error:
                cnx.close()
                raise
            self._connections[dbname] = cnx
        return cnx

    def _drop(self, dbname):
        cnx = self._connections.pop(dbname, None)
        if cnx is not None:
            with contextlib.suppress(psycopg2.Error):
                cnx.close()

    def close(self, dbname):
        """Close the kept connection to `dbname`, if any (opened again when next needed)."""
        with self._lock:
            self._drop(dbname)

    def _forked(self):
        if self._pid != os.getpid():
            # what was inherited over a fork is the parent's: never used, never closed
            self._connections, self._failed_at, self._pid = {}, {}, os.getpid()

    def _failing(self, dbname):
        return time.monotonic() - self._failed_at.get(dbname, -RETRY_AFTER) < RETRY_AFTER

    def usable(self, env):
        """Whether statements of `env`'s database may run here now (see the module doc)."""
        if env.registry.in_test_mode():
            return False
        with self._lock:
            self._forked()
            return not self._failing(env.cr.dbname)

    def run(self, env, name, values):
        """The rows of statement `name` run with `values` (a dict, as for the request's
        cursor) on the kept connection of `env`'s database; None when it cannot be used (see
        the module doc)."""
        if env.registry.in_test_mode():
            return None
        return self.execute(env.cr.dbname, name, values)

    def execute(self, dbname, name, values):
        """``run`` for code without an environment (a thread of this process)."""
        with self._lock:
            self._forked()
            if self._failing(dbname):
                return None
            names = self._statements[name][1]
            placeholders = ", ".join(["%s"] * len(names))
            try:
                with self._connection(dbname).cursor() as cr:
                    cr.execute(f"EXECUTE {name}({placeholders})", [values[n] for n in names])
                    rows = cr.fetchall() if cr.description else []
                self._failed_at.pop(dbname, None)  # working again
                return rows
            except psycopg2.Error as error:
                # a restart, an upgrade that changed a table, a time-out: the request's cursor
                # answers, and this connection is opened anew later
                self._drop(dbname)
                self._failed_at[dbname] = time.monotonic()
                _logger.info("VPBX routing: the kept connection failed (%s)", error)
                return None
