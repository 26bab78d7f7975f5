"""Rows written a moment later, many in one INSERT: the routing log of a busy process.

Under load the log's own INSERT cost an answer as much as the lookup: one more round trip and
one more transaction per request (bench, 8 callers: ~20 % fewer answers per second with it
than without). Here a process keeps the rows of its answers, per database, and writes them in
one statement on the kept connection (``route_lookup``) every FLUSH_EVERY seconds, or at once
when FLUSH_ROWS are waiting. If the kept connection fails they go through a connection of
Odoo's pool; if that fails too they are dropped with a warning (log rows, never an answer).
A process that exits normally (a worker recycled or stopped) writes what it holds; one killed
outright loses at most its last FLUSH_EVERY seconds of rows.

No ORM: rows are dicts, sent as one JSON parameter (psycopg2, and Odoo's pool when it must).
"""

import atexit
import contextlib
import json
import logging
import os
import threading
import time
from datetime import UTC, datetime

from odoo import sql_db

_logger = logging.getLogger(__name__)

#: Seconds a row waits at most (the writer thread's period)
FLUSH_EVERY = 1.0
#: Rows that make a write at once, in the request that adds the last one
FLUSH_ROWS = 100


class BatchedRows:
    """Rows added by requests, written later by one statement per database.

    `kept`: the ``KeptStatements`` holding `statement`, prepared with one parameter ``rows``
    (a JSON array of the rows); `sql`: the same statement with psycopg2's ``%(rows)s``, for a
    connection of Odoo's pool.
    """

    def __init__(self, kept, statement, sql):
        self._kept = kept
        self._statement = statement
        self._sql = sql
        self._lock = threading.Lock()
        self._rows = {}
        self._pid = None
        atexit.register(self.flush)

    def add(self, env, row):
        """Keep `row` (a dict; ``date`` is set to now, UTC) for `env`'s database. False when
        the kept connection cannot be used (the test runner, a recent failure): the caller
        writes the row itself, in its transaction."""
        if not self._kept.usable(env):
            return False
        dbname = env.cr.dbname
        row = dict(row, date=datetime.now(UTC).replace(tzinfo=None).isoformat())
        with self._lock:
            if self._pid != os.getpid():
                # rows inherited over a fork are the parent's; threads do not survive a fork
                self._rows, self._pid = {}, os.getpid()
                threading.Thread(target=self._writer, name="vpbx-batched-rows", daemon=True).start()
            rows = self._rows.setdefault(dbname, [])
            rows.append(row)
            full = len(rows) >= FLUSH_ROWS
        if full:
            self.flush(dbname)
        return True

    def pending(self, dbname):
        """How many rows of `dbname` wait to be written."""
        with self._lock:
            return len(self._rows.get(dbname, ())) if self._pid == os.getpid() else 0

    def flush(self, dbname=None):
        """Write the waiting rows now (of `dbname`, or of every database)."""
        with self._lock:
            if self._pid != os.getpid():
                return
            names = [dbname] if dbname else list(self._rows)
            batches = [(name, self._rows.pop(name)) for name in names if self._rows.get(name)]
        for name, rows in batches:
            self._write(name, rows)

    def _writer(self):
        pid = os.getpid()
        while self._pid == pid:
            time.sleep(FLUSH_EVERY)
            try:
                self.flush()
            except Exception:  # the thread must live on; _write already reports its failures
                _logger.exception("VPBX: waiting rows could not be written")

    def _write(self, dbname, rows):
        values = {"rows": json.dumps(rows)}
        if self._kept.execute(dbname, self._statement, values) is not None:
            return
        try:
            with contextlib.closing(sql_db.db_connect(dbname).cursor()) as cr:
                cr.execute(self._sql, values)
                cr.commit()  # pylint: disable=invalid-commit
        except Exception as error:
            _logger.warning("VPBX: %s log rows of %s dropped (%s)", len(rows), dbname, error)
