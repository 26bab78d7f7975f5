"""Transactions and advisory locks of the code that owns its cursor (controller, crons, syncs).

Plain Python: ``env`` is only asked to ``flush_all()`` and ``invalidate_all()``; ``cr`` is any
DB-API cursor on PostgreSQL. The one place where the addon commits, retries and locks.
"""

import contextlib
import logging
import random
import time

from psycopg2 import errors as pg_errors

_logger = logging.getLogger(__name__)

#: Errors after which the same work may succeed in a new transaction.
CONCURRENCY_ERRORS = (
    pg_errors.SerializationFailure,
    pg_errors.UniqueViolation,
    pg_errors.DeadlockDetected,
    pg_errors.LockNotAvailable,
)
ATTEMPTS = 5
#: PostgreSQL advisory lock classes (two int4 keys: class, object id).
LOCK_SYNC = 0x56504201
LOCK_IMPORT = 0x56504202


def in_new_transaction(env, func, attempts=ATTEMPTS):
    """Run ``func()`` and COMMIT; on a concurrency error roll back and run it again, each attempt
    in a new transaction.

    A new transaction, not a savepoint: under REPEATABLE READ a savepoint keeps the snapshot in
    which the row another worker committed meanwhile stays invisible. Only for callers owning
    the cursor: it commits and rolls back everything pending on it.
    """
    cr = env.cr
    for attempt in range(1, attempts + 1):
        try:
            result = func()
            env.flush_all()
            cr.commit()  # pylint: disable=invalid-commit
            return result
        except CONCURRENCY_ERRORS as error:
            cr.rollback()
            env.invalidate_all()
            if attempt == attempts:
                raise
            _logger.info(
                "VPBX: %s, retrying in a new transaction (%s/%s)",
                type(error).__name__,
                attempt,
                attempts,
            )
            time.sleep(random.uniform(0.0, 0.05 * 2**attempt))
    return None


@contextlib.contextmanager
def advisory_lock(cr, lock_class, object_id):
    """Take a session-level advisory lock without waiting; yields whether it was taken.

    Session-level, so it lives across the commits of a run, and is released in ``finally``
    whatever the run raised (after a rollback, since a failed transaction refuses queries).
    """
    cr.execute("SELECT pg_try_advisory_lock(%s, %s)", [lock_class, object_id])
    taken = bool(cr.fetchone()[0])
    try:
        yield taken
    finally:
        if taken:
            try:
                cr.execute("SELECT pg_advisory_unlock(%s, %s)", [lock_class, object_id])
            except pg_errors.InFailedSqlTransaction:
                cr.rollback()
                cr.execute("SELECT pg_advisory_unlock(%s, %s)", [lock_class, object_id])
