"""The growth history: the task worker's scheduled captures (audited, once per period, pruned to the bound) and
the read that charts them, through its doors, with bad parameters refused before anything is read."""

import json
import threading
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings
from django.urls import reverse

from opsadmin.models import OpsRun, QueryStatsSample, SizeSample
from opsadmin.operations.database import growth
from opsadmin.operations.database.growth_read import growth_history
from opsadmin.operations.database.sections import growth_context
from opsadmin.spine import registry
from opsadmin.spine.runs import title_of
from opsadmin.spine.schedule import Scheduler
from stocks.models import Stock
from tests.helpers import VIEWERS, logged_in, sql
from tests.opsadmin.database.extensions import require_extensions

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class Clock:
    """The scheduler's monotonic clock, moved by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def wall(monkeypatch):
    """The captures' wall clock (which day or hour it is), moved by hand."""

    class Wall:
        now = NOON

    monkeypatch.setattr(growth, "_now", lambda: Wall.now)
    return Wall


def database_jobs():
    return [job for job in registry.scheduled() if job.name in growth.TITLES]


def scheduled_runs():
    return list(OpsRun.objects.filter(operation__in=growth.TITLES).order_by("pk"))


def size_sample(table, bytes_, at, index=""):
    return SizeSample.objects.create(captured_at=at, schema="public", table=table, index=index, bytes=bytes_)


@pytest.mark.django_db(transaction=True)  # the scheduler closes stale connections before each job, as in the worker
def test_the_worker_s_scheduler_runs_the_jobs_once_per_period_each_an_audited_run(wall):
    clock = Clock()
    scheduler = Scheduler(database_jobs(), clock=clock)
    scheduler.run_due()  # all due at start
    first = scheduled_runs()
    expected = {growth.SIZES, growth.INDEX_CHECK} | ({growth.QUERIES} if connection.vendor == "postgresql" else set())
    assert {run.operation for run in first} == expected
    for run in first:
        assert (run.door, run.actor, run.status, run.target) == ("portal", "schedule", "succeeded", "task_worker")
        assert run.finished_at is not None
        assert run.ran_on
    sizes = next(run for run in first if run.operation == growth.SIZES)
    assert title_of(sizes) == f"Capture table sizes #{sizes.pk}"
    assert sizes.summary.endswith("0 old samples pruned")
    assert SizeSample.objects.filter(table=Stock._meta.db_table, index="").count() == 1
    assert SizeSample.objects.filter(table=Stock._meta.db_table).exclude(index="").exists()  # its indexes

    # Every look of the same hour and day finds the work done: nothing new.
    for _ in range(3):
        clock.now += 3600
        wall.now += timedelta(minutes=10)
        scheduler.run_due()
    assert len(scheduled_runs()) == len(first)

    # The next hour: query statistics again (PostgreSQL); the next day: everything.
    wall.now = NOON + timedelta(hours=1, minutes=5)
    clock.now += 3600
    scheduler.run_due()
    hourly = 1 if connection.vendor == "postgresql" else 0
    assert len(scheduled_runs()) == len(first) + hourly
    wall.now = NOON + timedelta(days=1)
    clock.now += 3600
    scheduler.run_due()
    assert len(scheduled_runs()) == 2 * len(first) + hourly
    assert SizeSample.objects.values("captured_at").distinct().count() == 2
    viewer = logged_in(username="viewer", permissions=["view_ops"])  # a flushed database has no groups' permissions
    page = viewer.get(reverse("ops_api:runs.list"), {"operation": growth.SIZES}).json()
    assert [run["title"] for run in page["data"]["runs"]] == [
        f"Capture table sizes #{run.pk}" for run in reversed(scheduled_runs()) if run.operation == growth.SIZES
    ]


def test_two_captures_in_the_same_period_store_one(wall):
    assert growth.capture_sizes() is not None
    wall.now += timedelta(hours=5)
    assert growth.capture_sizes() is None
    assert SizeSample.objects.values("captured_at").distinct().count() == 1
    assert OpsRun.objects.filter(operation=growth.SIZES).count() == 1


def test_each_capture_prunes_what_is_older_than_the_bound(wall):
    old, kept = NOON - timedelta(days=3), NOON - timedelta(days=1)
    size_sample("stocks_stock", 10, old)
    size_sample("stocks_stock", 20, kept)
    with override_settings(PORTAL_DATABASE_HISTORY_DAYS=2):
        run = growth.capture_sizes()
    assert run.result["pruned"] == 1
    assert not SizeSample.objects.filter(captured_at=old).exists()
    assert SizeSample.objects.filter(captured_at=kept).exists()
    assert SizeSample.objects.filter(captured_at__lt=NOON - timedelta(days=2)).count() == 0


def test_a_capture_this_database_cannot_make_fails_its_run_saying_why_once_a_period(wall, monkeypatch):
    def no_dbstat():
        raise growth.Unavailable(growth.SIZES_NEED_POSTGRES)

    monkeypatch.setattr(growth, "size_rows", no_dbstat)
    run = growth.capture_sizes()
    assert (run.status, run.summary) == ("failed", "sizes need PostgreSQL (this SQLite has no dbstat table)")
    assert growth.capture_sizes() is None  # said once this day, not at every look
    assert not SizeSample.objects.exists()


def test_the_nightly_check_fails_its_run_while_a_declared_index_is_missing(wall, monkeypatch):
    from opsadmin.operations.database.analysis import IndexHealth

    monkeypatch.setattr(growth, "index_health", lambda: IndexHealth(["stock_movers_idx"], [], []))
    run = growth.check_declared_indexes()
    assert (run.status, run.summary) == ("failed", "1 index problem: missing: stock_movers_idx")
    assert run.result == {"missing": ["stock_movers_idx"], "invalid": [], "changed": []}


def seed_history():
    """Three days of stocks_dailybar growing (table and one index), a table of constant size, and one statement."""
    for day, (table_bytes, index_bytes) in enumerate(
        [(1_000_000, 200_000), (1_500_000, 300_000), (2_000_000, 400_000)]
    ):
        at = NOON - timedelta(days=3 - day)
        size_sample("stocks_dailybar", table_bytes, at)
        size_sample("stocks_dailybar", index_bytes, at, index="stocks_dailybar_pkey")
        size_sample("stocks_stock", 8192, at)
    for hour, (calls, total_ms) in enumerate([(100, 1000.0), (160, 1900.0), (40, 800.0)]):  # reset before the third
        QueryStatsSample.objects.create(
            captured_at=NOON - timedelta(hours=3 - hour),
            queryid=42,
            query="SELECT * FROM stocks_dailybar WHERE volume > $1",
            calls=calls,
            total_ms=total_ms,
            mean_ms=total_ms / calls,
        )


def test_the_read_gives_each_table_s_growth_and_a_statement_s_calls_and_mean_over_time():
    seed_history()
    found = growth_history(days=7, now=NOON)
    bars, stocks = found.tables
    assert (bars.table, bars.first_bytes, bars.last_bytes, bars.growth_bytes) == (
        "stocks_dailybar",
        1_200_000,
        2_400_000,
        1_200_000,
    )
    assert bars.growth_percent == 100.0
    assert (stocks.growth_bytes, stocks.growth_percent) == (0, 0.0)
    (query,) = found.queries
    assert [(point.calls, point.mean_ms) for point in query.points] == [(60, 15.0), (40, 20.0)]
    assert (query.calls, query.total_ms) == (100, 1700.0)

    context = growth_context(now=NOON)
    assert [entry["growth"] for entry in context["growth_tables"]] == ["+1.1 MiB", "+0 B"]
    assert [entry["percent"] for entry in context["growth_tables"]] == ["+100.0 %", "+0.0 %"]
    assert context["growth_space_chart"].series[0].label == "stocks_dailybar"
    assert context["growth_queries"][0]["mean"] == "17.0 ms"


def test_the_read_through_its_doors_and_bad_parameters_refused_changing_nothing():
    seed_history()
    viewer = logged_in(VIEWERS)
    path = reverse("ops_api:database.history")
    assert path == "/api/ops/database/history/"
    response = viewer.get(path, {"table": "stocks_dailybar", "days": "30"})
    assert response.status_code == 200
    (table,) = response.json()["data"]["tables"]
    assert (table["table"], table["growth_bytes"]) == ("stocks_dailybar", 1_200_000)

    out = StringIO()
    call_command("ops", "show", "database.history", "--set", "query=42", "--json", stdout=out)
    shown = json.loads(out.getvalue())
    assert [row["queryid"] for row in shown["data"]["queries"]] == [42]

    before = (SizeSample.objects.count(), QueryStatsSample.objects.count(), OpsRun.objects.count())
    for bad, field, message in [
        ({"table": "stocks_nope"}, "table", "unknown table 'stocks_nope'"),
        ({"days": "0"}, "days", "greater than or equal to 1"),
        ({"days": "31"}, "days", "at most 30 days are kept"),
        ({"days": "week"}, "days", "Enter a whole number."),
        ({"query": "7"}, "query", "unknown query 7"),
    ]:
        refused = viewer.get(path, bad)
        assert refused.status_code == 400, bad
        assert message in refused.json()["fields"][field][0]
        name, value = next(iter(bad.items()))
        with pytest.raises(CommandError, match=message) as command:
            call_command("ops", "show", "database.history", "--set", f"{name}={value}", stdout=StringIO())
        assert command.value.returncode == 2
    assert (SizeSample.objects.count(), QueryStatsSample.objects.count(), OpsRun.objects.count()) == before
    assert logged_in(username="plain").get(path).status_code == 403


# --- PostgreSQL ----------------------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_query_statistics_are_captured_from_pg_stat_statements(wall):
    require_extensions(growth.PG_STAT_STATEMENTS)
    sql("SELECT pg_stat_statements_reset()")  # what the test database's creation ran would fill the top 100
    for _ in range(3):
        Stock.objects.filter(ticker="NOPE").count()
    run = growth.capture_query_stats()
    assert run.status == "succeeded", run.summary
    assert run.result["statements"] == QueryStatsSample.objects.count() > 0
    sample = (
        QueryStatsSample.objects.filter(query__contains="COUNT(*)")
        .filter(query__contains="stocks_stock")
        .order_by("-calls")
        .first()
    )
    assert sample is not None
    assert sample.calls >= 3
    assert sample.total_ms >= 0
    assert len(sample.query) <= growth.QUERY_TEXT_CHARS


@pytest.mark.postgres
def test_postgres_a_second_worker_holding_the_job_makes_this_one_skip(wall):
    """Two task workers at once: the one without the advisory lock stores nothing, runs nothing."""
    held, release, done = threading.Event(), threading.Event(), threading.Event()

    def other_worker():
        try:
            with growth._period_lock(growth.SIZES) as locked:
                assert locked
                held.set()
                release.wait(10)
        finally:
            connection.close()
            done.set()

    thread = threading.Thread(target=other_worker)
    thread.start()
    assert held.wait(10)
    try:
        assert growth.capture_sizes() is None
        assert not SizeSample.objects.exists()
        assert not OpsRun.objects.exists()
    finally:
        release.set()
        thread.join(10)
    assert growth.capture_sizes() is not None  # once the other let go (and, here, stored nothing)
    assert SizeSample.objects.values("captured_at").distinct().count() == 1
