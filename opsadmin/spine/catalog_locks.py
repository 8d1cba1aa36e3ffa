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
shorter wait, since it reads several capabilities one after the other.
"""

import contextlib
import contextvars
import functools

from django.conf import settings
from django.db import DatabaseError, connection

from opsadmin.spine.runs import OperationFailed

LOCK_NOT_AVAILABLE = "55P03"  # the SQLSTATE of a lock timeout


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
    """Run `function` with PORTAL_INDEX_LOCK_TIMEOUT (or the glance's) on the caller's connection; restore it after.

    A read that waits longer for a table lock raises CatalogLocked before anything is done.
    """

    @functools.wraps(function)
    def bounded(*args, **kwargs):
        if connection.vendor != "postgresql":
            return function(*args, **kwargs)
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('lock_timeout')")
            previous = cursor.fetchone()[0]
            set_timeout(cursor, "lock_timeout", _lock_timeout_setting.get())
        try:
            return function(*args, **kwargs)
        except DatabaseError as error:
            if sqlstate(error) != LOCK_NOT_AVAILABLE:
                raise
            raise CatalogLocked(_locked_message(error)) from None
        finally:
            with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
                cursor.execute("SELECT set_config('lock_timeout', %s, false)", [previous])

    return bounded


def set_timeout(cursor, parameter, setting):
    """This session's `parameter` (lock_timeout, statement_timeout) from `setting`, in PostgreSQL's units."""
    value = str(getattr(settings, setting))
    try:
        cursor.execute("SELECT set_config(%s, %s, false)", [parameter, value])
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
