"""Index and table maintenance, the write side: build, rebuild and drop indexes; ANALYZE and VACUUM tables.

Plain functions returning dataclass reports (each with a `summary`); the declared writes in
`writes.py` are their front-door wrappers. What makes them safe to run from a web page:

- Names from input are matched against the catalog first (exact match, the schemas on the
  search path); an unknown or refused name raises before anything runs, listing every bad
  name. Names reach SQL only through the database layer's quoting.
- On PostgreSQL each run works on a connection of its own, in autocommit (CONCURRENTLY can't
  run in a transaction block), holding a session-level advisory lock for the whole run: a
  second run raises AlreadyRunning instead of starting. `lock_timeout` and
  `statement_timeout` come from settings (PORTAL_INDEX_LOCK_TIMEOUT, default 5s;
  PORTAL_INDEX_STATEMENT_TIMEOUT, default 30min), so a build stuck behind a busy table
  fails fast instead of making every query queue behind it.
- Indexes are built, rebuilt and dropped CONCURRENTLY, one at a time. A failed build has
  its leftover (PostgreSQL keeps an INVALID index) dropped; the next index still gets its
  turn, and the report says which failed and why. While a build runs, a second thread polls
  `pg_stat_progress_create_index` for the building backend and reports its phase.

On SQLite the same calls take the plain path: CREATE INDEX (transactional, so no leftovers),
no invalid indexes to rebuild, ANALYZE and PRAGMA optimize, no per-table VACUUM. A
process-wide lock stands in for the advisory lock: SQLite already serialises writers
across processes; the lock only keeps two runs in one process from interleaving.
"""

import contextlib
import functools
import logging
import re
import threading
import time
from dataclasses import dataclass, field

from django.apps import apps
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, models

from opsadmin.operations.database import catalog, drift, suggestions
from opsadmin.runs import OperationFailed

logger = logging.getLogger(__name__)

# The pg_try_advisory_lock key of index and table maintenance ("OPSI"). In pg_locks it shows
# as locktype 'advisory', classid 0, objid ADVISORY_LOCK_KEY, objsubid 1.
ADVISORY_LOCK_KEY = 0x4F505349
DEFAULT_LOCK_TIMEOUT = "5s"
DEFAULT_STATEMENT_TIMEOUT = "30min"
PROGRESS_INTERVAL = 1.0  # seconds between two polls of pg_stat_progress_create_index
LOCK_NOT_AVAILABLE = "55P03"  # the SQLSTATE of a lock timeout

PLANNED, DONE, FAILED = "planned", "done", "failed"
CREATE, REBUILD, DROP = "create", "rebuild", "drop"

# What a failed REINDEX CONCURRENTLY leaves behind; PostgreSQL's advice is to drop these, not rebuild them.
_TRANSIENT_LEFTOVER = re.compile(r"_cc(new|old)\d*$")
_CREATE_INDEX = re.compile(r"^\s*CREATE\s+(UNIQUE\s+)?INDEX\s+(?!CONCURRENTLY\b)", re.IGNORECASE)

_process_lock = threading.Lock()  # SQLite's stand-in for the advisory lock


class AlreadyRunning(OperationFailed):
    """Another index or table maintenance run holds the lock; nothing was done."""


class UnknownNames(OperationFailed):
    """Names that aren't among those the catalog offers for this operation; nothing was done."""

    def __init__(self, what, names):
        super().__init__(f"{what}: {', '.join(names)}")
        self.names = list(names)


class Refused(OperationFailed):
    """The arguments ask for something unsafe (or unconfirmed); nothing was done."""


# --- Timeouts ----------------------------------------------------------------------------------------


_TIMEOUTS = (
    ("lock_timeout", "PORTAL_INDEX_LOCK_TIMEOUT", DEFAULT_LOCK_TIMEOUT),
    ("statement_timeout", "PORTAL_INDEX_STATEMENT_TIMEOUT", DEFAULT_STATEMENT_TIMEOUT),
)


def _set_timeouts(cursor, timeouts=_TIMEOUTS):
    """This session's lock_timeout and statement_timeout from settings, in PostgreSQL's units ("5s", "30min")."""
    for parameter, setting, default in timeouts:
        value = str(getattr(settings, setting, default))
        try:
            cursor.execute("SELECT set_config(%s, %s, false)", [parameter, value])
        except DatabaseError as error:
            raise OperationFailed(f"{setting}={value!r} is not a valid {parameter}: {_first_line(error)}") from None


def _bounded_catalog_reads(function):
    """Run `function` with the lock timeout on the caller's connection too, where the catalog is read.

    Reading an index's definition takes a share lock on its table, so a table someone holds
    ACCESS EXCLUSIVE (an ALTER TABLE, a LOCK TABLE) would make planning wait as long as that
    lasts; with the timeout the run fails fast instead, before anything is done. The
    connection's own setting is restored afterwards.
    """

    @functools.wraps(function)
    def bounded(*args, **kwargs):
        if connection.vendor != "postgresql":
            return function(*args, **kwargs)
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('lock_timeout')")
            previous = cursor.fetchone()[0]
            _set_timeouts(cursor, _TIMEOUTS[:1])
        try:
            return function(*args, **kwargs)
        except DatabaseError as error:
            if _sqlstate(error) != LOCK_NOT_AVAILABLE:
                raise
            timeout = getattr(settings, "PORTAL_INDEX_LOCK_TIMEOUT", DEFAULT_LOCK_TIMEOUT)
            raise OperationFailed(
                f"could not read the catalog within the lock timeout ({timeout}): a table is locked by another "
                f"session ({_first_line(error)})"
            ) from None
        finally:
            with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
                cursor.execute("SELECT set_config('lock_timeout', %s, false)", [previous])

    return bounded


def _sqlstate(error):
    cause = error.__cause__
    return getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)  # psycopg 3, psycopg2


# --- Reports ----------------------------------------------------------------------------------


@dataclass
class IndexStep:
    """One index and what happened to it: its SQL, the outcome, the time, any cleanup after a failure."""

    action: str  # create | rebuild | drop
    name: str
    table: str
    sql: list[str]  # the statements, in order (a unique constraint: its index, then the constraint)
    schema: str | None = None  # None: the table is found through the search path, like migrate does
    status: str = PLANNED  # planned | done | failed
    seconds: float | None = None
    error: str = ""  # the database's message, first line only (its DETAIL can quote row data)
    cleanup: str = ""  # after a failure: the leftover dropped, or left (and why)
    note: str = ""


@dataclass
class IndexReport:
    action: str  # create | rebuild | drop
    dry_run: bool
    steps: list[IndexStep]
    done: list[str]
    failed: list[str]
    ok: bool  # no step failed
    seconds: float
    summary: str


@dataclass
class TableStep:
    table: str
    sql: str
    status: str = PLANNED
    seconds: float | None = None
    error: str = ""


@dataclass
class TableReport:
    vacuum: bool
    dry_run: bool
    steps: list[TableStep]
    done: list[str]
    failed: list[str]
    ok: bool
    seconds: float
    summary: str
    notes: list[str] = field(default_factory=list)


@dataclass
class OptimizeReport:
    """The default maintenance: create the missing declared indexes, rebuild the invalid ones, ANALYZE."""

    dry_run: bool
    created: list[str]
    rebuilt: list[str]
    dropped: list[str]  # leftovers of failed REINDEX CONCURRENTLY (*_ccnew, *_ccold)
    failed: list[str]  # indexes whose step failed
    failed_tables: list[str]  # tables whose ANALYZE failed
    analyzed: list[str]
    index_steps: list[IndexStep]  # the plan, on a dry run
    table_steps: list[TableStep]
    still_missing: list[str]  # declared indexes missing after the run (on a dry run: now)
    still_invalid: list[str]  # INVALID indexes after the run (on a dry run: now)
    problems_remaining: bool  # declared indexes still missing, or indexes still invalid
    ok: bool  # no step failed (problems_remaining says whether declared indexes are still missing or invalid)
    timings: dict[str, float]  # seconds: indexes (create and rebuild), analyze (both when run), total
    summary: str


# --- What the catalog offers (the forms' choices, and the checks before running) ---------------


def missing_index_names():
    """Names of the declared indexes missing in the database."""
    return [declared.name for declared in drift.missing_declared_indexes()]


def invalid_index_names():
    """Names of the INVALID indexes (failed concurrent builds; builds in progress left out). SQLite has none."""
    return [row.name for row in _invalid_indexes()]


def repairable_index_names():
    """Missing declared indexes and invalid ones: what `optimize_database(indexes=...)` accepts."""
    return sorted({*missing_index_names(), *invalid_index_names()})


def declared_index_names():
    """Every index name the models declare (drift's list: what `migrate` creates here)."""
    return {declared.name for declared in drift.declared_indexes()}


def drop_refusals(names):
    """{name: reason} for those of `names` that are never dropped. Unknown names aren't judged here."""
    rows = {row.name: row for row in catalog.index_rows()}
    declared = declared_index_names()
    refusals = {}
    for name in names:
        row = rows.get(name)
        if row is None:
            continue
        if row.primary:
            refusals[name] = "it is a primary key"
        elif row.unique:
            refusals[name] = "it is a unique index"
        elif row.constraint:
            refusals[name] = f"it backs the constraint {row.constraint}"
        elif name in declared:
            refusals[name] = "a model declares it"
    return refusals


def confirmation_matches(names, confirmation):
    """True when `confirmation` types exactly `names`: comma-separated, in any order, case-sensitive."""
    typed = [part.strip() for part in (confirmation or "").split(",") if part.strip()]
    return bool(names) and len(typed) == len(set(typed)) and set(typed) == set(names)


# --- Create the missing declared indexes ---------------------------------------------------------


@_bounded_catalog_reads
def create_missing_indexes(names=None, *, dry_run=False, progress=None):
    """Build the declared indexes missing in the database (all, or only `names`), one at a time.

    PostgreSQL: CREATE INDEX CONCURRENTLY under the maintenance lock and timeouts; a failed
    build's leftover is dropped and the next index is built. `dry_run` returns the plan.
    """
    started = time.monotonic()
    missing = _select(drift.missing_declared_indexes(), names, "not a missing declared index")
    steps = [_create_step(declared) for declared in missing]
    if not dry_run and steps:
        with _maintenance(builds=True) as session:
            _run_index_steps(session, steps, progress)
    return _index_report(CREATE, dry_run, steps, started)


def _create_step(declared):
    return IndexStep(CREATE, declared.name, declared.table, _create_statements(declared))


def _create_statements(declared):
    """The SQL that builds `declared` as `migrate` would, but CONCURRENTLY on PostgreSQL."""
    if connection.vendor != "postgresql":
        return [declared.create_sql]
    editor = connection.schema_editor(atomic=False)  # only builds statements; never entered
    index = declared.index
    if isinstance(index, models.Index):
        return [str(index.create_sql(apps.get_model(declared.model), editor, concurrently=True))]
    if _CREATE_INDEX.match(declared.create_sql):  # field indexes, partial or expression unique constraints
        return [_CREATE_INDEX.sub(r"CREATE \1INDEX CONCURRENTLY ", declared.create_sql, count=1)]
    return _constraint_statements(declared, editor)


def _constraint_statements(declared, editor):
    """A table constraint (ALTER TABLE ... ADD CONSTRAINT ... UNIQUE / PRIMARY KEY) without blocking writes.

    Its unique index is built concurrently first; ADD CONSTRAINT ... USING INDEX then makes
    it the constraint, under a brief lock.
    """
    constraint = declared.index
    nulls = deferrable = ""
    if isinstance(constraint, models.UniqueConstraint):
        nulls = editor._unique_index_nulls_distinct_sql(constraint.nulls_distinct)
        deferrable = editor._deferrable_constraint_sql(constraint.deferrable)
    kind = "PRIMARY KEY" if declared.kind == drift.PRIMARY_KEY else "UNIQUE"
    name, table = editor.quote_name(declared.name), editor.quote_name(declared.table)
    columns = ", ".join(editor.quote_name(column) for column in declared.columns)
    return [
        f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON {table} ({columns}){nulls}",
        f"ALTER TABLE {table} ADD CONSTRAINT {name} {kind} USING INDEX {name}{deferrable}",
    ]


def suggested_index_names():
    """The names of the indexes suggestions.suggest_indexes() proposes right now (PostgreSQL with hypopg)."""
    return [suggestion.name for suggestion in suggestions.suggest_indexes()]


@_bounded_catalog_reads
def create_suggested_indexes(names, *, dry_run=False, progress=None):
    """Build suggested indexes by name, CONCURRENTLY, as the missing declared ones are built.

    The suggestions are computed again here, so an index is only built while it still
    halves the cost of a slow query. It is not declared by a model: declare it in
    Meta.indexes if it should stay (drift lists it as undeclared until then).
    """
    started = time.monotonic()
    proposed = {suggestion.name: suggestion for suggestion in suggestions.suggest_indexes()}
    unknown = [name for name in _unique_names(names) if name not in proposed]
    if unknown:
        raise UnknownNames("not a current index suggestion", unknown)
    steps = [
        IndexStep(
            CREATE,
            name,
            proposed[name].table,
            [_CREATE_INDEX.sub(r"CREATE \1INDEX CONCURRENTLY ", proposed[name].create_sql, count=1)],
        )
        for name in _unique_names(names)
    ]
    if not dry_run and steps:
        with _maintenance(builds=True) as session:
            _run_index_steps(session, steps, progress)
    return _index_report(CREATE, dry_run, steps, started)


# --- Rebuild the invalid ones ----------------------------------------------------------------------


@_bounded_catalog_reads
def rebuild_invalid_indexes(names=None, *, dry_run=False, progress=None):
    """REINDEX INDEX CONCURRENTLY each INVALID index (all, or only `names`).

    The `*_ccnew` / `*_ccold` leftovers of an earlier failed REINDEX CONCURRENTLY are dropped
    instead, as PostgreSQL advises. SQLite has no invalid indexes: nothing to do.
    """
    started = time.monotonic()
    if connection.vendor != "postgresql":
        if names:
            raise UnknownNames("not an invalid index (SQLite has none)", _unique_names(names))
        return _index_report(REBUILD, dry_run, [], started, nothing="SQLite has no invalid indexes: nothing to do.")
    steps = [_rebuild_step(row) for row in _select(catalog.invalid_indexes(), names, "not an invalid index")]
    if not dry_run and steps:
        with _maintenance(builds=True) as session:
            _run_index_steps(session, steps, progress)
    return _index_report(REBUILD, dry_run, steps, started)


def _rebuild_step(row):
    index = _qualified(row.schema, row.name)
    if _TRANSIENT_LEFTOVER.search(row.name):
        note = "the leftover of a failed REINDEX CONCURRENTLY: dropped rather than rebuilt, as PostgreSQL advises"
        return IndexStep(DROP, row.name, row.table, [f"DROP INDEX CONCURRENTLY {index}"], row.schema, note=note)
    return IndexStep(REBUILD, row.name, row.table, [f"REINDEX INDEX CONCURRENTLY {index}"], row.schema)


# --- Drop selected indexes -------------------------------------------------------------------------


@_bounded_catalog_reads
def drop_indexes(names, confirmation, *, dry_run=False, progress=None):
    """Drop the indexes `names`, only when `confirmation` types the same names.

    Refused before anything runs: unknown names, primary keys, unique or constraint-backed
    indexes, and indexes a model declares. PostgreSQL: DROP INDEX CONCURRENTLY.
    """
    started = time.monotonic()
    names = _unique_names(names)
    if not names:
        raise Refused("name at least one index to drop")
    rows = _select(catalog.index_rows(), names, "unknown index")
    if refusals := drop_refusals(names):
        raise Refused("won't drop " + "; ".join(f"{name}: {reason}" for name, reason in refusals.items()))
    if not confirmation_matches(names, confirmation):
        raise Refused(f"type the index names to confirm the drop: {', '.join(names)}")
    concurrently = " CONCURRENTLY" if connection.vendor == "postgresql" else ""
    steps = [
        IndexStep(DROP, row.name, row.table, [f"DROP INDEX{concurrently} {_qualified(row.schema, row.name)}"])
        for row in rows
    ]
    if not dry_run:
        with _maintenance(builds=True) as session:
            _run_index_steps(session, steps, progress)
    return _index_report(DROP, dry_run, steps, started)


# --- ANALYZE and VACUUM ----------------------------------------------------------------------------


@_bounded_catalog_reads
def analyze_tables(tables=None, *, vacuum=False, dry_run=False, progress=None):
    """ANALYZE (or VACUUM (ANALYZE)) the selected tables, or every table on the search path.

    SQLite: ANALYZE each table, then PRAGMA optimize. Its VACUUM rewrites the whole
    database file and has no per-table form, so `vacuum=True` is refused there.
    """
    started = time.monotonic()
    postgres = connection.vendor == "postgresql"
    if vacuum and not postgres:
        raise Refused(
            "VACUUM of single tables is not available on SQLite (its VACUUM rewrites the whole database file); "
            "run ANALYZE instead"
        )
    steps = _table_steps(_selected_tables(tables), vacuum=vacuum)
    notes = [] if postgres else ["SQLite: ANALYZE of each table, then PRAGMA optimize; no per-table VACUUM."]
    if not dry_run and steps:
        with _maintenance(builds=False) as session:
            _run_table_steps(session, steps, progress)
    return _table_report(vacuum, dry_run, steps, started, notes)


def _selected_tables(tables):
    known = catalog.table_names()
    if not tables:
        return list(known)
    tables = _unique_names(tables)
    known = set(known)
    if unknown := [name for name in tables if name not in known]:
        raise UnknownNames("unknown table", unknown)
    return tables


def _table_steps(tables, *, vacuum):
    """One statement per table. Unqualified: the catalog lists the tables the search path resolves."""
    verb = "VACUUM (ANALYZE)" if vacuum else "ANALYZE"
    return [TableStep(table, f"{verb} {_qualified(None, table)}") for table in tables]


# --- The default maintenance -----------------------------------------------------------------------


@_bounded_catalog_reads
def optimize_database(*, dry_run=False, indexes=None, progress=None):
    """Create the missing declared indexes, rebuild the invalid ones, then ANALYZE.

    `indexes` limits the first two steps to those names (each must be missing or invalid) and
    the ANALYZE to the tables they touched; without it, every missing and invalid index is
    handled and every table analyzed. The report says what is still missing or invalid.
    """
    started = time.monotonic()
    names = _unique_names(indexes)
    missing, invalid = drift.missing_declared_indexes(), _invalid_indexes()
    if names:
        known = {row.name for row in [*missing, *invalid]}
        if unknown := [name for name in names if name not in known]:
            raise UnknownNames("not a missing or invalid index", unknown)
        missing = [row for row in missing if row.name in names]
        invalid = [row for row in invalid if row.name in names]
    index_steps = [_create_step(row) for row in missing] + [_rebuild_step(row) for row in invalid]
    timings = {}
    if dry_run:
        table_steps = _table_steps(_tables_to_analyze(index_steps, names, planned=True), vacuum=False)
    else:
        with _maintenance(builds=True) as session:
            phase_started = time.monotonic()
            _run_index_steps(session, index_steps, progress)
            timings["indexes"] = _since(phase_started)
            table_steps = _table_steps(_tables_to_analyze(index_steps, names, planned=False), vacuum=False)
            phase_started = time.monotonic()
            _run_table_steps(session, table_steps, progress)
            timings["analyze"] = _since(phase_started)
    still_missing = missing_index_names()
    still_invalid = invalid_index_names()
    timings["total"] = _since(started)
    return _optimize_report(dry_run, index_steps, table_steps, still_missing, still_invalid, timings)


def _tables_to_analyze(index_steps, names, *, planned):
    """All tables for the default run; with chosen indexes, the tables they (would) have touched."""
    if not names:
        return catalog.table_names()
    return sorted({step.table for step in index_steps if planned or step.status == DONE})


# --- Running --------------------------------------------------------------------------------------


@dataclass
class _Session:
    connection: object  # the DatabaseWrapper the work runs on
    pid: int | None = None  # its backend's pid (PostgreSQL), for the progress view


@contextlib.contextmanager
def _maintenance(*, builds):
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
    own = connections.create_connection(DEFAULT_DB_ALIAS)  # a session of its own: lock, timeouts, autocommit
    try:
        with own.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s), pg_backend_pid()", [ADVISORY_LOCK_KEY])
            locked, pid = cursor.fetchone()
            if not locked:
                raise AlreadyRunning(_already_running_message(cursor))
            try:
                _set_timeouts(cursor)
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


def _run_index_steps(session, steps, progress):
    """Run each step's SQL in turn. A failure is recorded (and its leftover dropped); then the next one runs."""
    conn = session.connection
    postgres = conn.vendor == "postgresql"
    count = len(steps)
    for number, step in enumerate(steps, start=1):
        where = {"step": step.action, "index": step.name, "table": step.table, "number": number, "count": count}
        _report(progress, **where, phase="starting", message=f"{step.action} {step.name} ({number} of {count})")
        table = _qualified(step.schema, step.table)
        before = _indexes_on(conn, table) if postgres and step.action != DROP else None
        poller = _ProgressPoller(session.pid, progress, where) if postgres and progress else contextlib.nullcontext()
        started = time.monotonic()
        try:
            with poller, conn.cursor() as cursor:
                for sql in step.sql:
                    cursor.execute(sql)
        except DatabaseError as error:
            step.status, step.error = FAILED, _first_line(error)
            logger.warning("index %s of %s failed: %s", step.action, step.name, step.error)
            if before is not None:
                # A failed CREATE leaves nothing of its own behind; a failed REINDEX only its invalid copies.
                step.cleanup = _drop_leftovers(conn, table, before, only_invalid=step.action == REBUILD)
        else:
            step.status = DONE
        step.seconds = _since(started)
        outcome = f"{step.status}" + (f": {step.error}" if step.error else "")
        _report(
            progress, **where, phase=step.status, message=f"{step.action} {step.name} ({number} of {count}): {outcome}"
        )


def _run_table_steps(session, steps, progress):
    count = len(steps)
    for number, step in enumerate(steps, start=1):
        message = f"{step.sql} ({number} of {count})"
        _report(
            progress, step="analyze", table=step.table, number=number, count=count, phase="running", message=message
        )
        started = time.monotonic()
        try:
            with session.connection.cursor() as cursor:
                cursor.execute(step.sql)
        except DatabaseError as error:
            step.status, step.error = FAILED, _first_line(error)
        else:
            step.status = DONE
        step.seconds = _since(started)
    if session.connection.vendor == "sqlite" and steps:
        with session.connection.cursor() as cursor:
            cursor.execute("PRAGMA optimize")


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


def _drop_leftovers(conn, table, before, *, only_invalid):
    """Drop the indexes a failed step left on `table` (those not there before it); say what was done."""
    try:
        after = _indexes_on(conn, table)
    except DatabaseError as error:
        return f"could not look for leftovers: {_first_line(error)}"
    notes = []
    for oid, (schema, name, valid) in after.items():
        if oid in before or (valid and only_invalid):
            continue
        state = "valid" if valid else "INVALID"
        try:
            with conn.cursor() as cursor:
                cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {_qualified(schema, name)}")
            notes.append(f"dropped the {state} leftover {name}")
        except DatabaseError as error:
            notes.append(f"left the {state} index {name} (its drop failed: {_first_line(error)}); drop it by hand")
    return "; ".join(notes)


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
                with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
                    cursor.execute(
                        f"SELECT {', '.join(self.COLUMNS)} FROM pg_stat_progress_create_index WHERE pid = %s",
                        [self.pid],
                    )
                    row = cursor.fetchone()
                if row and not self.stop.is_set():
                    self.publish(dict(zip(self.COLUMNS, row, strict=True)))
        except Exception:
            logger.exception("polling the progress of %s failed", self.where["index"])
        finally:
            connections.close_all()  # this thread's connections only

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


# --- Helpers ------------------------------------------------------------------------------------


def _invalid_indexes():
    return catalog.invalid_indexes() if connection.vendor == "postgresql" else []


def _select(rows, names, unknown_message):
    """`rows` (anything with `.name`), or only those named, in the order named; unknown names raise."""
    if not names:
        return list(rows)
    names = _unique_names(names)
    by_name = {}
    for row in rows:
        by_name.setdefault(row.name, row)  # the first: the catalog lists the search path's schemas in order
    if unknown := [name for name in names if name not in by_name]:
        raise UnknownNames(unknown_message, unknown)
    return [by_name[name] for name in names]


def _unique_names(names):
    """A list of names (or one comma-separated string), stripped, without repeats, in order."""
    if isinstance(names, str):
        names = names.split(",")
    return list(dict.fromkeys(name.strip() for name in names or () if name and name.strip()))


def _qualified(schema, name):
    """`name` quoted by the database layer, qualified by `schema` when given."""
    for part in (schema, name):
        if part and '"' in part:  # quote_name doesn't escape quotes; no name Django makes contains one
            raise OperationFailed(f"unsupported name {part!r}")
    quote = connection.ops.quote_name
    return f"{quote(schema)}.{quote(name)}" if schema else quote(name)


def _first_line(error):
    """The database's message without its DETAIL, which can quote row data."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _since(started):
    return round(time.monotonic() - started, 3)


def _count(number, noun):
    plural = {"index": "indexes", "table": "tables"}[noun]
    return f"{number} {noun if number == 1 else plural}"


def _failures(steps, key="name"):
    return "; ".join(f"{getattr(step, key)} ({step.error})" for step in steps if step.status == FAILED)


def _index_report(action, dry_run, steps, started, nothing=None):
    done = [step.name for step in steps if step.status == DONE]
    failed = [step.name for step in steps if step.status == FAILED]
    if not steps:
        summary = (
            nothing
            or {
                CREATE: "No declared index is missing: nothing to create.",
                REBUILD: "No invalid index: nothing to rebuild.",
                DROP: "Nothing to drop.",
            }[action]
        )
    elif dry_run:
        summary = "Would run: " + "; ".join(f"{step.action} {step.name}" for step in steps) + "."
    else:
        past = {CREATE: "Created", REBUILD: "Rebuilt", DROP: "Dropped"}[action]
        summary = f"{past} {len(done)} of {_count(len(steps), 'index')}" + (f": {', '.join(done)}." if done else ".")
        if failed:
            summary += f" Failed: {_failures(steps)}."
    return IndexReport(action, dry_run, steps, done, failed, not failed, _since(started), summary)


def _table_report(vacuum, dry_run, steps, started, notes):
    done = [step.table for step in steps if step.status == DONE]
    failed = [step.table for step in steps if step.status == FAILED]
    verb = "VACUUM (ANALYZE)" if vacuum else "ANALYZE"
    if not steps:
        summary = "No table to analyze."
    elif dry_run:
        summary = f"Would {verb} {_count(len(steps), 'table')}: {', '.join(step.table for step in steps)}."
    else:
        summary = f"{verb} of {len(done)} of {_count(len(steps), 'table')} done."
        if failed:
            summary += f" Failed: {_failures(steps, 'table')}."
    return TableReport(vacuum, dry_run, steps, done, failed, not failed, _since(started), summary, notes)


def _optimize_report(dry_run, index_steps, table_steps, still_missing, still_invalid, timings):
    def names(action, status=DONE):
        return [
            step.name for step in index_steps if step.action == action and (status is None or step.status == status)
        ]

    failed = [step.name for step in index_steps if step.status == FAILED]
    failed_tables = [step.table for step in table_steps if step.status == FAILED]
    analyzed = [step.table for step in table_steps if step.status == DONE]
    problems = bool(still_missing or still_invalid)
    if dry_run:
        plan = [
            f"create {', '.join(names(CREATE, None))}" if names(CREATE, None) else "",
            f"rebuild {', '.join(names(REBUILD, None))}" if names(REBUILD, None) else "",
            f"drop the leftovers {', '.join(names(DROP, None))}" if names(DROP, None) else "",
            f"ANALYZE {_count(len(table_steps), 'table')}" if table_steps else "",
        ]
        summary = "Dry run: would " + ("; ".join(filter(None, plan)) or "do nothing") + "."
    else:
        created, rebuilt = len(names(CREATE)), len(names(REBUILD))
        summary = f"Created {created}, rebuilt {rebuilt} {'index' if rebuilt == 1 else 'indexes'}"
        if names(DROP):
            summary += f", dropped {len(names(DROP))} leftover(s)"
        summary += f"; analyzed {_count(len(analyzed), 'table')}."
        if failed or failed_tables:
            summary += f" Failed: {'; '.join(filter(None, [_failures(index_steps), _failures(table_steps, 'table')]))}."
    if still_missing:
        summary += f" {'Missing' if dry_run else 'Still missing'}: {', '.join(still_missing)}."
    if still_invalid:
        summary += f" {'Invalid' if dry_run else 'Still invalid'}: {', '.join(still_invalid)}."
    if not problems and not failed and not failed_tables:
        summary += " No declared index is missing or invalid."
    return OptimizeReport(
        dry_run=dry_run,
        created=names(CREATE),
        rebuilt=names(REBUILD),
        dropped=names(DROP),
        failed=failed,
        failed_tables=failed_tables,
        analyzed=analyzed,
        index_steps=index_steps,
        table_steps=table_steps,
        still_missing=still_missing,
        still_invalid=still_invalid,
        problems_remaining=problems,
        ok=not (failed or failed_tables),
        timings=timings,
        summary=summary,
    )
