"""The growth history the task worker keeps on a schedule: table and index sizes daily, query statistics hourly,
the declared-index check nightly (PgHero's capture_space_stats and capture_query_stats).

Each job runs at most once per period (a UTC day, or an hour), whichever task worker gets there first: on
PostgreSQL the look for this period's run and the run itself hold an advisory lock, so a second worker waiting
on it finds the period done and does nothing; on SQLite, which has one writer, the look alone. The look is for
this period's run in the audit log, whatever its outcome (a failure says why, once a period). Each run is audited
like any other (door "portal", actor "schedule"): "Capture table sizes #12 succeeded". Each capture prunes the
samples older than PORTAL_DATABASE_HISTORY_DAYS.

pg_stat_statements' counters are cumulative since its last reset: they are stored as they are (never reset
here: the slow queries list reads them too), and the chart takes the differences (growth_sections).
"""

import contextlib
import zlib
from datetime import UTC, timedelta

from django.conf import settings
from django.db import DatabaseError, connection, connections, transaction
from django.utils import timezone

from opsadmin.models import OpsRun, QueryStatsSample, SizeSample
from opsadmin.operations.database.analysis import index_health
from opsadmin.operations.database.suggestions import PG_STAT_STATEMENTS, extension_status
from opsadmin.runtime import identity
from opsadmin.runtime.postgresql import pooling
from opsadmin.spine import humanize, targets

SIZES, QUERIES, INDEX_CHECK = "capture_table_sizes", "capture_query_stats", "check_declared_indexes"
TITLES = {
    SIZES: "Capture table sizes",
    QUERIES: "Capture query statistics",
    INDEX_CHECK: "Check declared indexes",
}
ACTOR = "schedule"
# How often the task worker looks whether this period's job is done: the period decides when it runs.
LOOK_EVERY_SECONDS = {SIZES: 3600.0, QUERIES: 300.0, INDEX_CHECK: 3600.0}
QUERY_LIMIT = 100  # statements kept per capture: the most total time first
QUERY_TEXT_CHARS = 2000
SIZES_NEED_POSTGRES = "sizes need PostgreSQL (this SQLite has no dbstat table)"

_now = timezone.now  # tests move it between periods


class Unavailable(Exception):
    """What this database can't tell (the message says so plainly): the run fails with it, the page says it."""


def capture_sizes():
    """Daily: every table's and index's size. Returns the run, or None when this day's is done."""
    return _once(SIZES, _day(_now()), _capture_sizes)


def capture_query_stats():
    """Hourly: the portal's statements' counters (pg_stat_statements). PostgreSQL only: SQLite has none."""
    if connection.vendor != "postgresql":
        return None
    return _once(QUERIES, _hour(_now()), _capture_query_stats)


def check_declared_indexes():
    """Nightly: the declared indexes' check (missing, INVALID or changed), recorded as a run that fails while one is."""
    return _once(INDEX_CHECK, _day(_now()), _check_declared_indexes)


def history_days():
    return int(settings.PORTAL_DATABASE_HISTORY_DAYS)


def prune(model, now):
    """Delete the samples of `model` older than the history keeps; returns how many."""
    deleted, _ = model.objects.filter(captured_at__lt=now - timedelta(days=history_days())).delete()
    return deleted


def size_rows():
    """[(schema, table, index name or "", bytes)]: one catalog query. Raises Unavailable on a SQLite without dbstat."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                """
                SELECT n.nspname, COALESCE(t.relname, c.relname),
                       CASE WHEN c.relkind = 'i' THEN c.relname ELSE '' END,
                       CASE WHEN c.relkind = 'i' THEN pg_relation_size(c.oid) ELSE pg_table_size(c.oid) END
                FROM pg_class c
                JOIN pg_namespace n ON n.oid = c.relnamespace
                LEFT JOIN pg_index i ON i.indexrelid = c.oid
                LEFT JOIN pg_class t ON t.oid = i.indrelid
                WHERE c.relkind IN ('r', 'm', 'i') AND n.nspname = ANY(current_schemas(false))
                """
            )
            return cursor.fetchall()
        try:
            with transaction.atomic():
                cursor.execute(
                    """
                    SELECT '', m.tbl_name, CASE WHEN m.type = 'index' THEN m.name ELSE '' END, SUM(s.pgsize)
                    FROM dbstat s JOIN sqlite_master m ON m.name = s.name
                    WHERE m.type IN ('table', 'index') AND m.tbl_name NOT LIKE 'sqlite_%'
                    GROUP BY m.name
                    """
                )
                return cursor.fetchall()
        except DatabaseError as error:
            raise Unavailable(SIZES_NEED_POSTGRES) from error


def sizes_unavailable():
    """Why sizes can't be captured here, plainly; "" when they can (PostgreSQL, or a SQLite with dbstat)."""
    if connection.vendor == "postgresql":
        return ""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM dbstat LIMIT 1")
    except DatabaseError:
        return SIZES_NEED_POSTGRES
    return ""


def statements_unavailable():
    """Why query statistics can't be captured here, plainly; "" when they can."""
    if connection.vendor != "postgresql":
        return "query statistics need PostgreSQL with pg_stat_statements"
    status = next(status for status in extension_status() if status.name == PG_STAT_STATEMENTS)
    return "" if status.ready else f"{status.problem}: {status.how_to_enable}"


def statement_rows():
    """[(queryid, query, calls, total ms, mean ms)]: the portal's statements in this database, most total time first."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT queryid, LEFT(query, %s), calls, total_exec_time, mean_exec_time
            FROM pg_stat_statements
            WHERE userid = (SELECT oid FROM pg_roles WHERE rolname = current_user)
              AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND queryid IS NOT NULL
            ORDER BY total_exec_time DESC
            LIMIT %s
            """,
            [QUERY_TEXT_CHARS, QUERY_LIMIT],
        )
        return cursor.fetchall()


def _capture_sizes(now):
    rows = size_rows()
    SizeSample.objects.bulk_create(
        SizeSample(captured_at=now, schema=schema, table=table, index=index, bytes=size or 0)
        for schema, table, index, size in rows
    )
    pruned = prune(SizeSample, now)
    tables = sum(1 for row in rows if not row[2])
    total = sum(row[3] or 0 for row in rows)
    summary = (
        f"{humanize.plural(tables, 'table')} and {humanize.plural(len(rows) - tables, 'index')}, "
        f"{humanize.byte_size(total)} in all; {humanize.plural(pruned, 'old sample')} pruned"
    )
    return True, summary, {"relations": len(rows), "bytes": total, "pruned": pruned}


def _capture_query_stats(now):
    if problem := statements_unavailable():
        raise Unavailable(problem)
    rows = statement_rows()
    QueryStatsSample.objects.bulk_create(
        QueryStatsSample(captured_at=now, queryid=qid, query=text, calls=calls, total_ms=total, mean_ms=mean)
        for qid, text, calls, total, mean in rows
    )
    pruned = prune(QueryStatsSample, now)
    summary = f"{humanize.plural(len(rows), 'statement')}; {humanize.plural(pruned, 'old sample')} pruned"
    return True, summary, {"statements": len(rows), "pruned": pruned}


def _check_declared_indexes(now):
    health = index_health()
    found = {"missing": health.missing, "invalid": health.invalid, "changed": health.changed}
    if health.ok:
        return True, "every declared index is present and valid", found
    return False, f"{humanize.plural(len(health.lines), 'index problem')}: {', '.join(health.lines)}", found


def _once(operation, period, work):
    """Run `work(now)` as this period's audited run of `operation`, unless one ran (or runs) already."""
    start, end = period
    with _period_lock(operation) as locked:
        if not locked:
            return None  # another task worker is at it
        if OpsRun.objects.filter(operation=operation, requested_at__gte=start, requested_at__lt=end).exists():
            return None
        now = _now()
        run = OpsRun.objects.create(
            operation=operation,
            title=TITLES[operation],
            door=OpsRun.Door.PORTAL,
            actor=ACTOR,
            arguments={"period": f"{start:%Y-%m-%d %H:%M} UTC"},
            target=targets.TASK_WORKER,
            status=OpsRun.Status.RUNNING,
            ran_on=identity.process_label(),
            requested_at=now,
            started_at=now,
        )
        try:
            with transaction.atomic():
                ok, summary, result = work(now)
        except Unavailable as unavailable:
            ok, summary, result = False, str(unavailable), None
        except Exception as error:
            _finish(run, False, f"{type(error).__name__}: {error}", None)
            raise  # the scheduler logs it
        _finish(run, ok, summary, result)
        return run


def _finish(run, ok, summary, result):
    run.status = OpsRun.Status.SUCCEEDED if ok else OpsRun.Status.FAILED
    run.summary, run.result, run.error = summary[:500], result, "" if ok else summary
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "summary", "result", "error", "finished_at"])


@contextlib.contextmanager
def _period_lock(operation):
    """PostgreSQL: a session advisory lock per job, not waited for (True when held). SQLite: always True.

    Through a transaction pooler the lock is held on a connection of its own to the server (the `direct`
    alias): on a pooled one it would stay on whichever server connection took it.
    """
    if connection.vendor != "postgresql":
        yield True
        return
    pooled = pooling.transaction_pooled(connection)
    holder = connections.create_connection(pooling.session_alias()) if pooled else connection
    key = zlib.crc32(f"opsadmin.database.{operation}".encode())
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            locked = cursor.fetchone()[0]
        try:
            yield locked
        finally:
            if locked:
                with holder.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
    finally:
        if pooled:
            holder.close()  # ends the session: releases the lock even if the unlock could not run


def _day(moment):
    start = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def _hour(moment):
    start = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return start, start + timedelta(hours=1)
