"""How index and table maintenance runs: one run at a time, within timeouts, one step at a time.

PostgreSQL: a connection of its own, in autocommit (CONCURRENTLY refuses a transaction block), to the
server itself when DATABASE_URL is a transaction pooler (the `direct` alias, pooling.py),
holding an advisory lock (a second run raises AlreadyRunning) and the timeouts from settings,
so a build stuck behind a busy table fails fast instead of making every query queue behind it.
A failed build's leftover is dropped and the next step still runs; a second thread reports a
build's phase. SQLite, which already serialises writers across processes: a process-wide lock
keeps two runs in one process from interleaving.
"""

import contextlib
import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connection, connections

from opsadmin.operations.database.reports import DONE, DROP, FAILED, REBUILD, SKIPPED, since
from opsadmin.runtime.postgresql import deadlines, pooling
from opsadmin.spine.catalog_locks import first_line, set_timeout
from opsadmin.spine.runs import OperationFailed

logger = logging.getLogger(__name__)

# The pg_try_advisory_lock key of index and table maintenance ("OPSI"). In pg_locks it shows
# as locktype 'advisory', classid 0, objid ADVISORY_LOCK_KEY, objsubid 1.
ADVISORY_LOCK_KEY = 0x4F505349
PROGRESS_INTERVAL = 1.0  # seconds between two polls of pg_stat_progress_create_index

_process_lock = threading.Lock()  # SQLite's stand-in for the advisory lock


class AlreadyRunning(OperationFailed):
    """Another index or table maintenance run holds the lock; nothing was done."""


_TIMEOUTS = (
    ("lock_timeout", "PORTAL_INDEX_LOCK_TIMEOUT"),
    ("statement_timeout", "PORTAL_INDEX_STATEMENT_TIMEOUT"),
)


# --- The session --------------------------------------------------------------------------------------


@dataclass
class _Session:
    connection: object  # the DatabaseWrapper the work runs on
    pid: int | None = None  # its backend's pid (PostgreSQL), for the progress view


@contextlib.contextmanager
def maintenance_session(*, builds):
    """The connection to work on, under the maintenance lock (and the timeouts, on PostgreSQL).

    `builds`: the run builds or drops indexes, which waits for every transaction using the
    table; refused when the caller's own connection is inside a transaction, since the build
    would then wait for its caller.
    """
    if connection.vendor != "postgresql":
        if not _process_lock.acquire(blocking=False):
            raise AlreadyRunning("index maintenance is already running in this process")
        try:
            yield _Session(connection)
        finally:
            _process_lock.release()
        return
    if builds and connection.in_atomic_block:
        raise OperationFailed("index maintenance must run outside a transaction (CONCURRENTLY would wait for it)")
    own = connections.create_connection(pooling.session_alias())  # a session of its own: lock, timeouts, autocommit
    try:
        with own.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s), pg_backend_pid()", [ADVISORY_LOCK_KEY])
            locked, pid = cursor.fetchone()
            if not locked:
                raise AlreadyRunning(_already_running_message(cursor))
            try:
                for parameter, setting in _TIMEOUTS:
                    set_timeout(cursor, parameter, setting)
                deadlines.allow(own, settings.PORTAL_INDEX_STATEMENT_TIMEOUT)  # the client waits as long as the server
                yield _Session(own, pid)
            finally:
                with contextlib.suppress(DatabaseError):
                    cursor.execute("SET lock_timeout TO DEFAULT")
                    cursor.execute("SET statement_timeout TO DEFAULT")
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])
    finally:
        own.close()  # ends the session: releases the lock even if the unlock above could not run


def _already_running_message(cursor):
    cursor.execute(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = 0 AND objid = %s"
        " AND objsubid = 1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        [ADVISORY_LOCK_KEY],
    )
    row = cursor.fetchone()
    return "index maintenance is already running" + (f" (pid {row[0]})" if row else "")


# --- The steps ----------------------------------------------------------------------------------------


def run_index_steps(session, steps, progress):
    """Run each step's SQL in turn. A failure is recorded (and its leftover dropped); then the next one runs.

    A step planned as skipped (its note says why) is reported and passed over.
    """
    conn = session.connection
    postgres = conn.vendor == "postgresql"
    count = len(steps)
    for number, step in enumerate(steps, start=1):
        where = {"step": step.action, "index": step.name, "table": step.table, "number": number, "count": count}
        if step.status == SKIPPED:
            _report(progress, **where, phase=SKIPPED, percent=100, message=_outcome(step, number, count))
            continue
        _report(progress, **where, phase="starting", message=f"{step.action} {step.name} ({number} of {count})")
        table = qualified(step.schema, step.table)
        before = _indexes_on(conn, table) if postgres and step.action != DROP else None
        poller = _ProgressPoller(session.pid, progress, where) if postgres and progress else contextlib.nullcontext()
        started = time.monotonic()
        try:
            with poller, conn.cursor() as cursor:
                for sql in step.sql:
                    cursor.execute(sql)
        except DatabaseError as error:
            step.status, step.error = FAILED, first_line(error)
            logger.warning("index %s of %s failed: %s", step.action, step.name, step.error)
            if before is not None:
                # A failed CREATE leaves nothing of its own behind; a failed REINDEX only its invalid copies.
                step.cleanup = _drop_leftovers(conn, table, before, step, only_invalid=step.action == REBUILD)
        else:
            step.status = DONE
        step.seconds = since(started)
        _report(progress, **where, phase=step.status, percent=100, message=_outcome(step, number, count))


def run_table_steps(session, steps, progress):
    """ANALYZE or VACUUM each table in turn; a failure is recorded and the next table still runs."""
    count = len(steps)
    for number, step in enumerate(steps, start=1):
        where = {"step": step.action, "table": step.name, "number": number, "count": count}
        if step.status == SKIPPED:
            _report(progress, **where, phase=SKIPPED, percent=100, message=_outcome(step, number, count))
            continue
        _report(progress, **where, phase="running", message=f"{step.action} {step.name} ({number} of {count})")
        started = time.monotonic()
        try:
            with session.connection.cursor() as cursor:
                for sql in step.sql:
                    cursor.execute(sql)
        except DatabaseError as error:
            step.status, step.error = FAILED, first_line(error)
        else:
            step.status = DONE
        step.seconds = since(started)
        _report(progress, **where, phase=step.status, percent=100, message=_outcome(step, number, count))
    if session.connection.vendor == "sqlite" and any(step.status == DONE for step in steps):
        try:
            with session.connection.cursor() as cursor:
                cursor.execute("PRAGMA optimize")
        except DatabaseError:  # an optimisation hint: the ANALYZEs above are what was asked
            logger.warning("PRAGMA optimize failed after ANALYZE", exc_info=True)


def _outcome(step, number, count):
    why = step.error or (step.note if step.status == SKIPPED else "")
    return f"{step.action} {step.name} ({number} of {count}): {step.status}" + (f": {why}" if why else "")


def _indexes_on(conn, table):
    """{oid: (schema, name, valid)} of the indexes on `table` (a quoted, possibly qualified name)."""
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT c.oid, n.nspname, c.relname, x.indisvalid FROM pg_index x"
            " JOIN pg_class c ON c.oid = x.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE x.indrelid = to_regclass(%s)",
            [table],
        )
        return {oid: (schema, name, valid) for oid, schema, name, valid in cursor.fetchall()}


def _drop_leftovers(conn, table, before, step, *, only_invalid):
    """Drop what a failed step left on `table`: new indexes under the name it built (or REINDEX's
    `<name>_ccnew*`, or the copy it built to swap in, valid or not: the swap did not happen),
    never another session's new index on the same table; say what was done."""
    try:
        after = _indexes_on(conn, table)
    except DatabaseError as error:
        return f"could not look for leftovers: {first_line(error)}"
    notes = []
    for oid, (schema, name, valid) in after.items():
        # An index off the search path is named "schema.name" in its step (catalog.index_key).
        built = step.name.removeprefix(f"{schema}.")
        copy = name == step.temporary
        ours = name == built or name.startswith(f"{built}_ccnew")
        if oid in before or not (ours or copy) or (valid and only_invalid and not copy):
            continue
        state = "valid" if valid else "INVALID"
        try:
            with conn.cursor() as cursor:
                cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {qualified(schema, name)}")
            notes.append(f"dropped the {state} leftover {name}")
        except DatabaseError as error:
            notes.append(f"left the {state} index {name} (its drop failed: {first_line(error)}); drop it by hand")
    return "; ".join(notes)


# --- Progress -----------------------------------------------------------------------------------------


class _ProgressPoller:
    """While a build runs, poll pg_stat_progress_create_index for its backend and pass on the phase.

    Runs in a thread, hence on a connection of its own (Django's connections are per thread),
    which it closes when the build ends. Best effort: a failed poll is logged, never raised.
    """

    COLUMNS = ("phase", "lockers_total", "lockers_done", "blocks_total", "blocks_done", "tuples_total", "tuples_done")

    def __init__(self, pid, progress, where):
        self.pid, self.progress, self.where = pid, progress, where
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, name=f"index-progress-{pid}", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stop.set()
        self.thread.join()

    def run(self):
        try:
            while not self.stop.wait(PROGRESS_INTERVAL):
                try:
                    row = self.poll()
                except Exception:  # one failed poll (a busy catalog, a dropped connection): try again next time
                    logger.exception("polling the progress of %s failed", self.where["index"])
                    connections.close_all()
                    continue
                if row and not self.stop.is_set():
                    self.publish(dict(zip(self.COLUMNS, row, strict=True)))
        finally:
            connections.close_all()  # this thread's connections only

    def poll(self):
        with connections[pooling.session_alias()].cursor() as cursor:  # a session SET must not reach a pool
            cursor.execute("SET statement_timeout = '2s'")  # never holds up the build's end (join)
            cursor.execute(
                f"SELECT {', '.join(self.COLUMNS)} FROM pg_stat_progress_create_index WHERE pid = %s", [self.pid]
            )
            return cursor.fetchone()

    def publish(self, row):
        percent = _percent(row)
        where = self.where
        detail = row["phase"] + (f" {percent:.0f}%" if percent is not None else "")
        message = f"{where['step']} {where['index']} ({where['number']} of {where['count']}): {detail}"
        _report(self.progress, **where, **row, percent=percent, message=message)


def _percent(row):
    """How far the current phase is, from the counters PostgreSQL advances in it; None when it has none."""
    phase = row["phase"] or ""
    counters = (
        ("blocks", ("scanning table",)),
        ("tuples", ("loading tuples", "scanning index", "sorting")),
        ("lockers", ("waiting",)),
    )
    for kind, words in counters:
        total, done = row[f"{kind}_total"], row[f"{kind}_done"]
        if total and any(word in phase for word in words):
            return round(100 * done / total, 1)
    return None


def _report(progress, **values):
    if progress is None:
        return
    try:
        progress(**values)
    except Exception:
        logger.exception("progress callback failed")  # progress never stops the work


# --- Helpers ------------------------------------------------------------------------------------------


def unquotable(*names):
    """Why these names can't be put into SQL ("" when they can): the database layer's quoting doesn't escape `"`.

    No name Django makes contains one; a table or index someone made by hand might. Its step
    is skipped with this reason rather than failing the whole run.
    """
    odd = [name for name in names if name and '"' in name]
    return f"{odd[0]!r} holds a double quote, which the portal never puts into SQL: do it by hand" if odd else ""


def qualified(schema, name):
    """`name` quoted by the database layer, qualified by `schema` when given (see `unquotable`)."""
    if reason := unquotable(schema, name):
        raise OperationFailed(reason)
    quote = connection.ops.quote_name
    return f"{quote(schema)}.{quote(name)}" if schema else quote(name)
