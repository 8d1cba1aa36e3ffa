"""What pg_stat_activity and pg_locks say right now: one small function per question, one query each.

PgHero's live queries (lib/pghero/methods/queries.rb) and its connection sources, with the
lock waits from pg_blocking_pids() (which sees through lock queues: a session waiting behind
another waiter is blocked by it too). PostgreSQL only; each function returns plain rows.
Within a transaction PostgreSQL reads pg_stat_activity once and keeps that snapshot: each
question clears it first (pg_stat_clear_snapshot), so it sees the sessions as they are now,
and durations run to clock_timestamp(), not now() (the asking transaction's start).
The sessions listed are those of this database (`datname = current_database()`); the
connection totals are the server's, since max_connections counts every database's.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection

from opsadmin.runtime.postgresql.application import PORTAL_SESSION_SQL, portal_application_name

FRESH = "SELECT pg_stat_clear_snapshot()"  # this transaction's snapshot of the statistics views goes


@dataclass
class Backend:
    """One session of this database (pg_stat_activity), with what the portal knows of it."""

    pid: int
    user: str | None
    application: str
    client: str | None  # address, "local" for a Unix socket, None for background workers
    backend_type: str
    state: str | None  # active, idle, idle in transaction, idle in transaction (aborted), ...
    wait_event_type: str | None
    wait_event: str | None
    backend_start: datetime | None
    xact_start: datetime | None
    query_start: datetime | None
    state_change: datetime | None
    duration_seconds: float | None  # active: its query's; in a transaction, idle: the transaction's; else None
    state_seconds: float | None  # how long it has been in its state
    blocked_by: list[int]  # pg_blocking_pids()
    query: str  # as track_activity_query_size kept it
    this_process: bool  # this session: the one answering
    portal: bool  # one of the portal's own sessions (its application_name's prefix)
    flags: list[str] = field(default_factory=list)  # what the page highlights: long-running, idle in transaction
    query_truncated: bool = False  # `query` was cut short for a list (the `pid` read gives it whole)


_BACKENDS = """
SELECT pid, usename, coalesce(application_name, ''),
       CASE WHEN client_addr IS NOT NULL THEN host(client_addr)
            WHEN backend_type = 'client backend' THEN 'local' END,
       coalesce(backend_type, ''), state, wait_event_type, wait_event,
       backend_start, xact_start, query_start, state_change,
       extract(epoch FROM CASE WHEN state = 'active' THEN clock_timestamp() - query_start
                               WHEN state LIKE 'idle in transaction%%' THEN clock_timestamp() - xact_start END),
       extract(epoch FROM clock_timestamp() - state_change),
       pg_blocking_pids(pid), coalesce(query, ''),
       pid = pg_backend_pid(), {portal}
FROM pg_stat_activity
WHERE datname = current_database() {where}
ORDER BY 13 DESC NULLS LAST, backend_start, pid
"""


def backends(pid=None):
    """Every session of this database, longest-running first (`pid`: that one only, if it is of this database)."""
    where, parameters = ("AND pid = %s", [pid]) if pid is not None else ("", [])
    with connection.cursor() as cursor:
        cursor.execute(FRESH)
        prefix = portal_application_name()
        cursor.execute(_BACKENDS.format(where=where, portal=PORTAL_SESSION_SQL), [prefix, prefix, *parameters])
        return [_backend(row) for row in cursor.fetchall()]


def _backend(row):
    values = list(row)
    for index in (12, 13):  # numeric seconds
        values[index] = float(values[index]) if values[index] is not None else None
    values[14] = list(values[14] or [])
    return Backend(*values)


@dataclass
class LockWait:
    """One session waiting for a lock, and one session it waits for (a row per pair)."""

    pid: int  # the waiting session
    blocker: int  # a session it waits for (holding the lock, or ahead of it in the queue)
    locktype: str  # relation, transactionid, tuple, advisory, ...
    relation: str | None  # the table or index waited on, when there is one
    mode: str  # the mode waited for
    blocker_modes: list[str]  # the blocker's modes on the same lock (granted or awaited)


# The waiter's ungranted lock, and the blocker's locks on the same object. A wait for a
# transaction (a row locked by another) has no relation: its tuple lock, if taken, names it.
_LOCK_WAITS = """
SELECT w.pid, b.blocker, w.locktype,
       coalesce(w.relation, (SELECT t.relation FROM pg_locks t
                             WHERE t.pid = w.pid AND t.locktype = 'tuple' LIMIT 1))::regclass::text,
       w.mode,
       coalesce((SELECT array_agg(DISTINCT h.mode ORDER BY h.mode) FROM pg_locks h
                 WHERE h.pid = b.blocker AND h.locktype = w.locktype
                   AND h.database IS NOT DISTINCT FROM w.database AND h.relation IS NOT DISTINCT FROM w.relation
                   AND h.page IS NOT DISTINCT FROM w.page AND h.tuple IS NOT DISTINCT FROM w.tuple
                   AND h.virtualxid IS NOT DISTINCT FROM w.virtualxid
                   AND h.transactionid IS NOT DISTINCT FROM w.transactionid
                   AND h.classid IS NOT DISTINCT FROM w.classid AND h.objid IS NOT DISTINCT FROM w.objid
                   AND h.objsubid IS NOT DISTINCT FROM w.objsubid), '{}')
FROM pg_locks w
JOIN pg_stat_activity a ON a.pid = w.pid AND a.datname = current_database()
CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS b(blocker)
WHERE NOT w.granted
ORDER BY w.pid, b.blocker
"""


def lock_waits():
    """Who waits for whom, on which lock: a row per (waiting session, blocker) of this database."""
    with connection.cursor() as cursor:
        cursor.execute(FRESH)
        cursor.execute(_LOCK_WAITS)
        return [LockWait(*row[:5], list(row[5] or [])) for row in cursor.fetchall()]


@dataclass
class ConnectionCount:
    state: str
    user: str
    application: str
    client: str
    database: str
    count: int


def connection_counts():
    """The server's client sessions, counted by state, user, application, client and database."""
    with connection.cursor() as cursor:
        cursor.execute(FRESH)
        cursor.execute(
            "SELECT coalesce(state, 'unknown'), coalesce(usename, ''), coalesce(application_name, ''),"
            " coalesce(host(client_addr), 'local'), coalesce(datname, ''), count(*)"
            " FROM pg_stat_activity WHERE backend_type = 'client backend' GROUP BY 1, 2, 3, 4, 5 ORDER BY 6 DESC"
        )
        return [ConnectionCount(*row) for row in cursor.fetchall()]


def connection_limits():
    """(max_connections, superuser_reserved_connections, this database's name): what the server takes, and keeps
    for superusers."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('max_connections')::int,"
            " current_setting('superuser_reserved_connections')::int, current_database()"
        )
        return cursor.fetchone()
