"""A bounded wait for table locks wherever PostgreSQL's catalog is read: the Database pages, their reads and health
checks, the writes' planning.

Reading an index's size or predicate takes a share lock on its table (pg_relation_size,
pg_get_expr), so while someone holds a table ACCESS EXCLUSIVE (an ALTER TABLE, a LOCK
TABLE, a VACUUM FULL) every read of the catalog would wait as long as that lasts, and
the page with it. With `lock_timeout` (PORTAL_INDEX_LOCK_TIMEOUT, the same wait the index
builds accept) the first read that would wait longer fails, and `CatalogLocked` says which
tables are held and by which sessions, so a person knows whom to ask. PgHero does the same
("not available (system catalog locked)"). A glance at every capability's status (`glance`:
the dashboard, the status API, system_status) waits PORTAL_STATUS_LOCK_TIMEOUT instead, a
shorter wait, since it reads several capabilities one after the other. Through a transaction pooler
(DATABASE_TRANSACTION_POOLING) the wait is set per transaction, so it never stays on a pooled server connection.
"""

import contextlib
import contextvars
import functools

from django.conf import settings
from django.db import DatabaseError, connection

from opsadmin.runtime.postgresql import pooling
from opsadmin.spine.runs import OperationFailed

LOCK_NOT_AVAILABLE = "55P03"  # the SQLSTATE of a lock timeout
SAVEPOINT_STATEMENTS = ("SAVEPOINT", "ROLLBACK TO SAVEPOINT", "RELEASE SAVEPOINT")


class CatalogLocked(OperationFailed):
    """The catalog could not be read within the lock timeout; the message names the locks in the way."""


_lock_timeout_setting = contextvars.ContextVar("catalog_lock_timeout_setting", default="PORTAL_INDEX_LOCK_TIMEOUT")


@contextlib.contextmanager
def glance():
    """Catalog reads inside wait PORTAL_STATUS_LOCK_TIMEOUT for a table lock rather than PORTAL_INDEX_LOCK_TIMEOUT."""
    token = _lock_timeout_setting.set("PORTAL_STATUS_LOCK_TIMEOUT")
    try:
        yield
    finally:
        _lock_timeout_setting.reset(token)


def bounded_catalog_reads(function):
    """Run `function` with PORTAL_INDEX_LOCK_TIMEOUT (or the glance's) on the caller's connection: the session's,
    restored after; through a transaction pooler each statement's (`_per_statement`).

    A read that waits longer for a table lock raises CatalogLocked before anything is done.
    """

    @functools.wraps(function)
    def bounded(*args, **kwargs):
        if connection.vendor != "postgresql":
            return function(*args, **kwargs)
        bound = _per_statement if pooling.transaction_pooled(connection) else _per_session
        try:
            with bound(_lock_timeout_setting.get()):
                return function(*args, **kwargs)
        except DatabaseError as error:
            if sqlstate(error) != LOCK_NOT_AVAILABLE:
                raise
            raise CatalogLocked(_locked_message(error)) from None

    return bounded


@contextlib.contextmanager
def _per_session(setting):
    """The session's lock_timeout from `setting` while inside, then what it was."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('lock_timeout')")
        previous = cursor.fetchone()[0]
        set_timeout(cursor, "lock_timeout", setting)
    try:
        yield
    finally:
        with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, false)", [previous])


@contextlib.contextmanager
def _per_statement(setting):
    """Through a transaction pooler a session setting would stay on a server connection other clients get next:
    each statement inside is sent with `SET LOCAL lock_timeout` before it, which ends with its transaction.

    In autocommit that is the statement's own; in the caller's transaction, the rest of it. A savepoint's
    statements go alone: after an error only they (no SET) may run in the transaction.
    """
    with connection.cursor() as cursor:
        set_timeout(cursor, "lock_timeout", setting, local=True)  # checks the value, and outlives no transaction
    value = "'" + str(getattr(settings, setting)).replace("'", "''") + "'"

    def with_lock_timeout(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith(SAVEPOINT_STATEMENTS):
            return execute(sql, params, many, context)
        prefix = f"SET LOCAL lock_timeout = {value if params is None else value.replace('%', '%%')}; "
        return execute(prefix + sql, params, many, context)

    with connection.execute_wrapper(with_lock_timeout):
        yield


def set_timeout(cursor, parameter, setting, *, local=False):
    """This session's `parameter` (lock_timeout, statement_timeout) from `setting`, in PostgreSQL's units;
    `local`: this transaction's only."""
    value = str(getattr(settings, setting))
    try:
        cursor.execute("SELECT set_config(%s, %s, %s)", [parameter, value, local])
    except DatabaseError as error:
        raise OperationFailed(f"{setting}={value!r} is not a valid {parameter}: {first_line(error)}") from None


def sqlstate(error):
    cause = error.__cause__
    return getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)  # psycopg 3, psycopg2


def first_line(error):
    """The database's message without its DETAIL, which can quote row data."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


# Tables of the search path that another session holds ACCESS EXCLUSIVE: what blocks every catalog read of them.
_HELD_EXCLUSIVELY = """
SELECT c.relname, l.pid, extract(epoch FROM now() - a.xact_start)
FROM pg_locks l
JOIN pg_class c ON c.oid = l.relation
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'relation' AND l.granted AND l.mode = 'AccessExclusiveLock' AND l.pid <> pg_backend_pid()
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND n.nspname = ANY(current_schemas(false)) AND c.relkind IN ('r', 'p', 'i', 'I')
ORDER BY c.relname, l.pid
"""


def _locked_message(error):
    setting = _lock_timeout_setting.get()
    message = f"could not read the catalog within the lock timeout ({getattr(settings, setting)}, {setting})"
    try:
        with connection.cursor() as cursor:
            cursor.execute(_HELD_EXCLUSIVELY)  # pg_locks and pg_stat_activity take no table lock
            held = cursor.fetchall()
    except DatabaseError:
        held = []
    if not held:
        return f"{message}: a table is locked by another session ({first_line(error)})"
    sessions = "; ".join(
        f"{table} (pid {pid}" + (f", its transaction open for {seconds:,.0f} s)" if seconds is not None else ")")
        for table, pid, seconds in held
    )
    return f"{message}: another session holds ACCESS EXCLUSIVE locks on {sessions}"
