"""Index and table maintenance (the writes): on real PostgreSQL, and the plain SQLite path.

The PostgreSQL tests are transactional (`transaction=True`): CREATE/REINDEX/DROP INDEX
CONCURRENTLY can't run inside the test's transaction. A flush doesn't undo schema changes,
so the `schema` fixture puts every declared index back and drops the test's own indexes.
"""

import contextlib
import threading
import time

import pytest
from django.db import DatabaseError, connection, connections

from opsadmin.models import OpsRun
from opsadmin.operations.database import catalog, drift, maintenance, runner
from opsadmin.operations.database.maintenance import AlreadyRunning, Refused, UnknownNames
from opsadmin.runtime.postgresql import budgets, pooling
from opsadmin.spine import registry, targets
from opsadmin.spine.runs import InvalidArguments, OperationFailed
from tests.helpers import run_write, sql
from tests.stocks.factories import make_stock

DECLARED = "stock_movers_idx"  # a Meta.indexes index on stocks_stock
DECLARED_ON_BARS = "dailybar_stock_date_idx"
EXTRA = "stock_name_extra_idx"  # an index no model declares
DUPLICATE_UNIQUE = "stock_name_unique_idx"  # left INVALID by a unique build over duplicate names


def pg(test):
    """A PostgreSQL test: transactional (CONCURRENTLY refuses a transaction), the schema restored afterwards."""
    test = pytest.mark.usefixtures("schema")(test)
    return pytest.mark.postgres(pytest.mark.django_db(transaction=True)(test))


@contextlib.contextmanager
def other_connection():
    """A second session, as another process would have (autocommit; BEGIN by hand to hold locks): its session
    locks on the server itself, as the portal's own (the `direct` alias when DATABASE_URL is a pooler)."""
    other = connections.create_connection(pooling.session_alias())
    try:
        with other.cursor() as cursor:
            yield cursor
    finally:
        other.close()


def index(name):
    """The catalog row of index `name`, or None."""
    return next((row for row in catalog.index_rows() if row.name == name), None)


@pytest.fixture
def schema():
    """Afterwards: the test's own indexes dropped, every declared index back (built plainly)."""
    yield
    connections.close_all()
    with connection.cursor() as cursor:
        for name in (EXTRA, DUPLICATE_UNIQUE, f"{DUPLICATE_UNIQUE}_ccnew"):
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
        for changed in drift.index_drift().changed:
            present = changed.present
            drop = f'ALTER TABLE "{present.table}" DROP CONSTRAINT "{present.constraint}"'
            cursor.execute(drop if present.constraint else f'DROP INDEX "{present.name}"')
        for declared in drift.missing_declared_indexes():
            cursor.execute(declared.create_sql)


@pytest.fixture
def fast_progress(monkeypatch):
    monkeypatch.setattr(runner, "PROGRESS_INTERVAL", 0.05)


def wait_for(condition, timeout=10):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


# --- PostgreSQL: create ------------------------------------------------------------------------


@pg
def test_create_missing_builds_a_dropped_declared_index_concurrently_and_valid():
    make_stock("AAA")
    sql(f'DROP INDEX "{DECLARED}"')
    assert DECLARED in maintenance.missing_index_names()

    report = maintenance.create_missing_indexes()

    assert report.ok
    assert report.done == [DECLARED]
    assert report.failed == []
    assert report.steps[0].sql[0].startswith(f'CREATE INDEX CONCURRENTLY "{DECLARED}"')
    assert index(DECLARED).valid
    assert maintenance.missing_index_names() == []
    assert report.summary == f"Created 1 of 1 index: {DECLARED}."


@pg
def test_a_dropped_unique_constraint_comes_back_as_a_constraint():
    sql('ALTER TABLE "stocks_dailybar" DROP CONSTRAINT "dailybar_one_per_stock_and_date"')

    report = maintenance.create_missing_indexes(["dailybar_one_per_stock_and_date"])

    assert report.ok, report.summary
    assert [sql.split(" ON ")[0] for sql in report.steps[0].sql] == [
        'CREATE UNIQUE INDEX CONCURRENTLY "dailybar_one_per_stock_and_date"',
        'ALTER TABLE "stocks_dailybar" ADD CONSTRAINT "dailybar_one_per_stock_and_date" UNIQUE USING INDEX'
        ' "dailybar_one_per_stock_and_date"',
    ]
    row = index("dailybar_one_per_stock_and_date")
    assert row.valid
    assert row.unique
    assert row.constraint == "dailybar_one_per_stock_and_date"


@pg
def test_dry_run_lists_the_plan_and_changes_nothing():
    sql(f'DROP INDEX "{DECLARED}"')

    report = maintenance.create_missing_indexes(dry_run=True)
    optimize = maintenance.optimize_database(dry_run=True)

    assert [(step.name, step.status) for step in report.steps] == [(DECLARED, "planned")]
    assert "CONCURRENTLY" in report.steps[0].sql[0]
    assert report.summary == f"Would run: create {DECLARED}."
    assert optimize.dry_run
    assert optimize.created == []
    assert optimize.still_missing == [DECLARED]
    assert optimize.problems_remaining
    assert optimize.ok  # nothing failed: the plan only says what would run
    index_steps = [step for step in optimize.steps if step.action == "create"]
    table_steps = [step for step in optimize.steps if step.action == "ANALYZE"]
    assert [step.name for step in index_steps] == [DECLARED]
    assert table_steps
    assert len(index_steps) + len(table_steps) == len(optimize.steps)
    assert all(step.status == "planned" for step in table_steps)
    assert index(DECLARED) is None


@pg
def test_a_failed_build_is_reported_its_leftover_dropped_and_the_next_index_still_built(settings):
    """A declared unique constraint over duplicate rows can't be built; the next one still is."""
    stock = make_stock("AAA")
    sql(
        'ALTER TABLE "stocks_dailybar" DROP CONSTRAINT "dailybar_one_per_stock_and_date"',
        f'DROP INDEX "{DECLARED_ON_BARS}"',
    )
    for _ in range(2):  # the same stock and date twice
        sql(
            "INSERT INTO stocks_dailybar (stock_id, date, open, high, low, close, volume)"
            f" VALUES ({stock.pk}, '2026-01-02', 1, 2, 1, 1, 10)"
        )

    report = maintenance.create_missing_indexes(["dailybar_one_per_stock_and_date", DECLARED_ON_BARS])

    failed, built = report.steps
    assert failed.status == "failed"
    assert "could not create unique index" in failed.error
    assert "DETAIL" not in failed.error
    assert "2026" not in failed.error
    assert failed.cleanup == "dropped the INVALID leftover dailybar_one_per_stock_and_date"
    assert built.status == "done"
    assert index(DECLARED_ON_BARS).valid
    assert index("dailybar_one_per_stock_and_date") is None  # still missing, nothing half-built
    assert not report.ok
    assert report.failed == ["dailybar_one_per_stock_and_date"]
    assert "Failed: dailybar_one_per_stock_and_date (could not create unique index" in report.summary
    sql("DELETE FROM stocks_dailybar")  # so that the fixture can put the constraint back


# --- PostgreSQL: rebuild ----------------------------------------------------------------------


def leave_invalid_unique_index():
    """Two stocks with one name, then a concurrent unique build over it: PostgreSQL keeps it INVALID."""
    make_stock("AAA", name="Same name")
    make_stock("BBB", name="Same name")
    with contextlib.suppress(DatabaseError):
        sql(f'CREATE UNIQUE INDEX CONCURRENTLY "{DUPLICATE_UNIQUE}" ON "stocks_stock" ("name")')
    assert index(DUPLICATE_UNIQUE).valid is False


@pg
def test_an_invalid_index_is_rebuilt_once_the_duplicates_are_gone():
    leave_invalid_unique_index()
    assert maintenance.invalid_index_names() == [DUPLICATE_UNIQUE]

    still_duplicated = maintenance.rebuild_indexes()
    assert still_duplicated.failed == [DUPLICATE_UNIQUE]
    assert still_duplicated.steps[0].cleanup == f"dropped the INVALID leftover {DUPLICATE_UNIQUE}_ccnew"
    assert maintenance.invalid_index_names() == [DUPLICATE_UNIQUE]  # only the original, no _ccnew

    sql("UPDATE stocks_stock SET name = 'Another name' WHERE ticker = 'BBB'")
    report = maintenance.rebuild_indexes([DUPLICATE_UNIQUE])

    assert report.ok
    assert report.done == [DUPLICATE_UNIQUE]
    assert report.steps[0].sql == [f'REINDEX INDEX CONCURRENTLY "public"."{DUPLICATE_UNIQUE}"']
    assert index(DUPLICATE_UNIQUE).valid
    assert maintenance.invalid_index_names() == []


@pg
def test_a_leftover_of_a_failed_reindex_is_dropped_not_rebuilt():
    leave_invalid_unique_index()
    with other_connection() as cursor, contextlib.suppress(DatabaseError):
        cursor.execute(f'REINDEX INDEX CONCURRENTLY "{DUPLICATE_UNIQUE}"')  # leaves ..._ccnew behind
    assert f"{DUPLICATE_UNIQUE}_ccnew" in maintenance.invalid_index_names()
    sql("UPDATE stocks_stock SET name = 'Another name' WHERE ticker = 'BBB'")

    report = maintenance.optimize_database(indexes=[DUPLICATE_UNIQUE, f"{DUPLICATE_UNIQUE}_ccnew"])

    assert report.rebuilt == [DUPLICATE_UNIQUE]
    assert report.dropped == [f"{DUPLICATE_UNIQUE}_ccnew"]
    assert report.analyzed == ["stocks_stock"]  # only the table it touched
    assert index(f"{DUPLICATE_UNIQUE}_ccnew") is None
    assert index(DUPLICATE_UNIQUE).valid
    assert report.ok
    assert not report.problems_remaining


def filenode(name):
    """The file an index's data is in: a rebuild writes a new one."""
    with other_connection() as cursor:
        cursor.execute("SELECT pg_relation_filenode(%s::regclass)", [name])
        return cursor.fetchone()[0]


@pg
def test_any_selected_index_is_rebuilt_concurrently_primary_keys_too():
    make_stock("AAA")
    before = {name: filenode(name) for name in (DECLARED, "stocks_stock_pkey")}

    run = run_write("rebuild_indexes", {"indexes": [DECLARED, "stocks_stock_pkey"]})

    assert run.status == "succeeded", run.error
    assert run.summary == f"Rebuilt 2 of 2 indexes: {DECLARED}, stocks_stock_pkey."
    assert [step["sql"] for step in run.result["steps"]] == [
        [f'REINDEX INDEX CONCURRENTLY "public"."{DECLARED}"'],
        ['REINDEX INDEX CONCURRENTLY "public"."stocks_stock_pkey"'],
    ]
    assert all(filenode(name) != node for name, node in before.items())
    assert index(DECLARED).valid
    assert index("stocks_stock_pkey").primary


# --- PostgreSQL: drop ---------------------------------------------------------------------------


@pg
def test_drop_refuses_primary_unique_constraint_and_declared_indexes():
    field_index = next(d.name for d in drift.declared_indexes() if d.kind == drift.FIELD_INDEX)
    cases = {
        "stocks_stock_pkey": "stocks_stock_pkey: it is a primary key",
        "stocks_stock_ticker_key": "stocks_stock_ticker_key: it is a unique index",
        "dailybar_one_per_stock_and_date": "dailybar_one_per_stock_and_date: it is a unique index",
        DECLARED: f"{DECLARED}: a model declares it",
        field_index: f"{field_index}: a model declares it",
    }
    for name, reason in cases.items():
        with pytest.raises(Refused, match=reason):
            maintenance.drop_indexes([name], name)
        assert index(name) is not None


@pg
def test_drop_needs_the_names_typed_to_confirm():
    sql(f'CREATE INDEX "{EXTRA}" ON "stocks_stock" ("name")')
    for confirmation in ("", "yes", EXTRA.upper(), f"{EXTRA}, {EXTRA}", f"{EXTRA}, other"):
        with pytest.raises(Refused, match=f"type the index names to confirm the drop: {EXTRA}"):
            maintenance.drop_indexes([EXTRA], confirmation)
    assert index(EXTRA) is not None

    report = maintenance.drop_indexes([EXTRA], f" {EXTRA} ")

    assert report.ok
    assert report.done == [EXTRA]
    assert report.steps[0].sql == [f'DROP INDEX CONCURRENTLY "public"."{EXTRA}"']
    assert index(EXTRA) is None


# --- PostgreSQL: ANALYZE and VACUUM -------------------------------------------------------------


def table_stats(table):
    with other_connection() as cursor:  # a fresh session: no cached statistics snapshot
        cursor.execute(
            "SELECT last_analyze, last_vacuum FROM pg_stat_user_tables WHERE relname = %s AND schemaname = 'public'",
            [table],
        )
        return cursor.fetchone()


def reset_table_stats(*tables):
    """Statistics outlive the flush between tests: start these tables from none."""
    with other_connection() as cursor:
        for table in tables:
            cursor.execute("SELECT pg_stat_reset_single_table_counters(%s::regclass)", [table])
    wait_for(lambda: all(table_stats(table) == (None, None) for table in tables))


@pg
def test_analyze_and_vacuum_update_the_table_statistics():
    make_stock("AAA")
    reset_table_stats("stocks_stock", "stocks_dailybar")

    analyzed = maintenance.analyze_tables(["stocks_stock"])
    wait_for(lambda: table_stats("stocks_stock")[0] is not None)
    assert table_stats("stocks_stock")[1] is None
    assert analyzed.done == ["stocks_stock"]
    assert analyzed.steps[0].sql == ['ANALYZE "stocks_stock"']

    vacuumed = maintenance.analyze_tables("stocks_stock, stocks_dailybar", vacuum=True)
    wait_for(lambda: table_stats("stocks_dailybar")[1] is not None)
    assert vacuumed.ok
    assert vacuumed.done == ["stocks_stock", "stocks_dailybar"]
    assert vacuumed.summary == "VACUUM (ANALYZE) of 2 of 2 tables done."
    assert table_stats("stocks_stock")[1] is not None


@pg
def test_another_schemas_table_is_vacuumed_by_its_qualified_name():
    sql(
        'CREATE SCHEMA "Odd Schema"',
        'CREATE TABLE "Odd Schema"."Trades" (id integer PRIMARY KEY)',
        'INSERT INTO "Odd Schema"."Trades" SELECT generate_series(1, 100)',
    )
    try:
        report = maintenance.vacuum_tables(["Odd Schema.Trades"])
        with connection.cursor() as cursor:
            cursor.execute("""SELECT reltuples FROM pg_class WHERE oid = '"Odd Schema"."Trades"'::regclass""")
            (tuples,) = cursor.fetchone()
    finally:
        sql('DROP SCHEMA "Odd Schema" CASCADE')
    assert report.done == ["Odd Schema.Trades"], report.steps
    assert tuples == 100  # VACUUM (ANALYZE) counted its rows


@pg
def test_analyze_without_names_takes_every_table():
    report = maintenance.analyze_tables()
    assert set(report.done) == set(catalog.table_names()) >= {"stocks_stock", "opsadmin_opsrun"}


# --- PostgreSQL: one run at a time ----------------------------------------------------------------


@pg
def test_a_second_run_is_refused_while_the_lock_is_held_and_nothing_runs():
    sql(f'DROP INDEX "{DECLARED}"')
    with other_connection() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s), pg_backend_pid()", [runner.ADVISORY_LOCK_KEY])
        holder = cursor.fetchone()[1]
        for run in (
            maintenance.create_missing_indexes,
            maintenance.optimize_database,
            lambda: maintenance.analyze_tables(["stocks_stock"]),
        ):
            with pytest.raises(AlreadyRunning, match=rf"^index maintenance is already running \(pid {holder}\)$"):
                run()
    assert index(DECLARED) is None
    assert maintenance.create_missing_indexes().done == [DECLARED]  # the lock went with its session


@pg
def test_progress_of_a_build_and_a_concurrent_second_run(settings, fast_progress):
    """A writer's open transaction holds the build in 'waiting for writers'; meanwhile a second run is refused."""
    settings.PORTAL_INDEX_LOCK_TIMEOUT = "30s"
    make_stock("AAA")
    sql(f'DROP INDEX "{DECLARED}"')
    calls, outcome = [], {}

    def build():
        try:
            outcome["report"] = maintenance.create_missing_indexes(progress=lambda **values: calls.append(values))
        finally:
            connections.close_all()

    with other_connection() as writer:
        writer.execute("BEGIN")
        writer.execute("UPDATE stocks_stock SET volume = 1")
        thread = threading.Thread(target=build)
        thread.start()
        try:
            wait_for(lambda: any("waiting for writers" in (call.get("phase") or "") for call in calls))
            with pytest.raises(AlreadyRunning, match=r"already running \(pid \d+\)"):
                maintenance.optimize_database()
        finally:
            writer.execute("COMMIT")
            thread.join(30)

    assert outcome["report"].done == [DECLARED]
    assert calls[0] == {
        "step": "create",
        "index": DECLARED,
        "table": "stocks_stock",
        "number": 1,
        "count": 1,
        "phase": "starting",
        "message": f"create {DECLARED} (1 of 1)",
    }
    waiting = next(call for call in calls if "waiting for writers" in (call.get("phase") or ""))
    assert waiting["lockers_total"] >= 1
    assert waiting["message"].startswith(f"create {DECLARED} (1 of 1): waiting")
    assert calls[-1]["phase"] == "done"


@pg
def test_the_lock_timeout_makes_a_blocked_build_fail_fast_and_the_next_one_still_runs(settings):
    """A VACUUM (or another concurrent build) holds the table: the build gives up after the lock timeout."""
    settings.PORTAL_INDEX_LOCK_TIMEOUT = "200ms"
    sql(f'DROP INDEX "{DECLARED}"', f'DROP INDEX "{DECLARED_ON_BARS}"')
    with other_connection() as blocker:
        blocker.execute("BEGIN")
        blocker.execute('LOCK TABLE "stocks_stock" IN SHARE UPDATE EXCLUSIVE MODE')
        started = time.monotonic()
        try:
            report = maintenance.create_missing_indexes([DECLARED, DECLARED_ON_BARS])
        finally:
            blocker.execute("ROLLBACK")
    assert time.monotonic() - started < 5
    blocked, built = report.steps
    assert blocked.status == "failed"
    assert blocked.error == "canceling statement due to lock timeout"
    assert blocked.cleanup == ""  # it never got as far as creating the index
    assert built.status == "done"
    assert index(DECLARED) is None
    assert index(DECLARED_ON_BARS).valid


@pg
def test_a_table_locked_exclusively_fails_the_run_fast_before_anything_runs(settings):
    """ACCESS EXCLUSIVE (an ALTER TABLE) blocks even reading the catalog: the run stops there, bounded too."""
    settings.PORTAL_INDEX_LOCK_TIMEOUT = "200ms"
    sql(f'DROP INDEX "{DECLARED}"', f'DROP INDEX "{DECLARED_ON_BARS}"')
    with other_connection() as blocker:
        blocker.execute("BEGIN")
        blocker.execute('LOCK TABLE "stocks_stock" IN ACCESS EXCLUSIVE MODE')
        started = time.monotonic()
        try:
            with pytest.raises(maintenance.OperationFailed, match=r"^could not read the catalog within the lock"):
                maintenance.optimize_database()
        finally:
            blocker.execute("ROLLBACK")
    assert time.monotonic() - started < 5
    assert index(DECLARED_ON_BARS) is None  # nothing ran
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('lock_timeout')")
        assert cursor.fetchone()[0] == "0"  # the caller's connection got its own setting back


@pg
def test_the_timeouts_apply_to_the_maintenance_session_only(settings):
    settings.PORTAL_INDEX_STATEMENT_TIMEOUT = "7min"
    show = "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')"
    with runner.maintenance_session(builds=True) as session, session.connection.cursor() as cursor:
        cursor.execute(show)
        assert cursor.fetchone() == ("5s", "7min")
        with connection.cursor() as callers:
            callers.execute(show)
            assert callers.fetchone() == ("0", budgets.current().statement_timeout)  # this process's own

    settings.PORTAL_INDEX_LOCK_TIMEOUT = "soon"
    with pytest.raises(maintenance.OperationFailed, match="PORTAL_INDEX_LOCK_TIMEOUT='soon' is not a valid"):
        maintenance.analyze_tables(["stocks_stock"])


# --- PostgreSQL: names from input ------------------------------------------------------------------


@pg
def test_unknown_names_are_a_clear_error_and_nothing_runs():
    reset_table_stats("stocks_stock")
    sql(f'DROP INDEX "{DECLARED}"', f'CREATE INDEX "{EXTRA}" ON "stocks_stock" ("name")')
    injection = 'stocks_stock"; DROP TABLE "stocks_dailybar'
    cases = [
        (
            lambda: maintenance.create_missing_indexes(["nope", DECLARED, "stock_sector_cap_idx"]),
            "not a missing declared index: nope, stock_sector_cap_idx",
        ),
        (
            lambda: maintenance.optimize_database(indexes=[DECLARED, "nope"]),
            "not a missing, invalid or changed index: nope",
        ),
        (lambda: maintenance.rebuild_indexes([EXTRA, "nope"]), "unknown index: nope"),
        (lambda: maintenance.drop_indexes([EXTRA, "nope"], f"{EXTRA}, nope"), "unknown index: nope"),
        (lambda: maintenance.analyze_tables(["stocks_stock", injection]), f"unknown table: {injection}"),
        (lambda: maintenance.analyze_tables(["STOCKS_STOCK"]), "unknown table: STOCKS_STOCK"),
    ]
    for run, message in cases:
        with pytest.raises(UnknownNames) as raised:
            run()
        assert str(raised.value) == message
    assert index(DECLARED) is None
    assert index(EXTRA) is not None
    assert "stocks_dailybar" in catalog.table_names()
    assert table_stats("stocks_stock") == (None, None)


# --- PostgreSQL: the default maintenance -------------------------------------------------------------


@pg
def test_optimize_fixes_missing_and_invalid_and_leaves_extra_indexes_alone():
    leave_invalid_unique_index()
    sql(
        "UPDATE stocks_stock SET name = 'Another name' WHERE ticker = 'BBB'",
        f'DROP INDEX "{DECLARED}"',
        f'CREATE INDEX "{EXTRA}" ON "stocks_stock" ("sector")',
    )
    progress = []

    report = maintenance.optimize_database(progress=lambda **values: progress.append(values))

    assert report.created == [DECLARED]
    assert report.rebuilt == [DUPLICATE_UNIQUE]
    assert report.ok
    assert not report.problems_remaining
    assert report.still_missing == report.still_invalid == []
    assert set(report.analyzed) == set(catalog.table_names())
    assert set(report.timings) == {"indexes", "analyze", "total"}
    assert report.summary.startswith("Created 1, rebuilt 1 index; analyzed ")
    assert report.summary.endswith("No declared index is missing, invalid or changed.")
    assert index(EXTRA) is not None
    assert [(call["step"], call["number"], call["count"]) for call in progress if "index" in call][-1] == (
        "rebuild",
        2,
        2,
    )
    finished = [(call["step"], call["number"]) for call in progress if call["phase"] == "done"]
    assert finished[:2] == [("create", 1), ("rebuild", 2)]
    assert finished[2:] == [("ANALYZE", number) for number in range(1, len(report.analyzed) + 1)]


# --- A declared index present with another definition (issue 16) ---------------------------------------

BARS_DECLARED = 'CREATE INDEX "dailybar_stock_date_idx" ON "stocks_dailybar" ("stock_id", "date" DESC)'
ONE_PER_DAY = "dailybar_one_per_stock_and_date"


def definition(name):
    return index(name).definition.split(" USING ")[1]


@pg
def test_an_index_present_with_another_definition_is_built_again_under_a_temporary_name_and_swapped_in():
    sql(f'DROP INDEX "{DECLARED_ON_BARS}"', f'CREATE INDEX "{DECLARED_ON_BARS}" ON "stocks_dailybar" ("date")')
    assert maintenance.changed_index_names() == [DECLARED_ON_BARS]
    assert DECLARED_ON_BARS in maintenance.repairable_index_names()

    plan = maintenance.optimize_database(dry_run=True)
    [step] = [step for step in plan.steps if step.action == "rebuild"]
    assert step.sql == [
        BARS_DECLARED.replace(f'INDEX "{DECLARED_ON_BARS}"', f'INDEX CONCURRENTLY "{DECLARED_ON_BARS}_swap"'),
        f'DROP INDEX "{DECLARED_ON_BARS}"; ALTER INDEX "{DECLARED_ON_BARS}_swap" RENAME TO "{DECLARED_ON_BARS}"',
    ]
    assert step.note.startswith("present with another definition (CREATE INDEX dailybar_stock_date_idx ON ")
    assert plan.still_changed == [DECLARED_ON_BARS]
    assert plan.problems_remaining
    assert f"Changed: {DECLARED_ON_BARS}." in plan.summary
    assert definition(DECLARED_ON_BARS) == "btree (date)"  # a dry run changes nothing

    report = maintenance.optimize_database(indexes=[DECLARED_ON_BARS])

    assert report.ok, report.summary
    assert report.rebuilt == [DECLARED_ON_BARS]
    assert report.still_changed == []
    assert not report.problems_remaining
    assert definition(DECLARED_ON_BARS) == "btree (stock_id, date DESC)"
    assert index(DECLARED_ON_BARS).valid
    assert index(f"{DECLARED_ON_BARS}_swap") is None
    assert drift.index_drift().ok


@pg
def test_a_unique_constraint_with_another_definition_is_swapped_as_a_constraint():
    sql(
        f'ALTER TABLE "stocks_dailybar" DROP CONSTRAINT "{ONE_PER_DAY}"',
        f'ALTER TABLE "stocks_dailybar" ADD CONSTRAINT "{ONE_PER_DAY}" UNIQUE ("stock_id", "date")',
    )
    assert maintenance.changed_index_names() == [ONE_PER_DAY]

    report = maintenance.optimize_database(indexes=[ONE_PER_DAY])

    assert report.ok, report.summary
    assert report.steps[0].sql[1] == (
        f'ALTER TABLE "stocks_dailybar" DROP CONSTRAINT "{ONE_PER_DAY}"; '
        f'ALTER TABLE "stocks_dailybar" ADD CONSTRAINT "{ONE_PER_DAY}" UNIQUE USING INDEX "{ONE_PER_DAY}_swap"'
    )
    row = index(ONE_PER_DAY)
    assert (row.columns, row.constraint, row.valid) == (["date", "stock_id"], ONE_PER_DAY, True)
    assert maintenance.changed_index_names() == []


@pg
def test_a_swap_that_fails_keeps_the_present_index_and_drops_the_copy():
    """A foreign key depends on the present constraint: it can't be dropped, so nothing is swapped."""
    sql(
        f'ALTER TABLE "stocks_dailybar" DROP CONSTRAINT "{ONE_PER_DAY}"',
        f'ALTER TABLE "stocks_dailybar" ADD CONSTRAINT "{ONE_PER_DAY}" UNIQUE ("stock_id", "date")',
        'CREATE TABLE "bar_note" (stock_id bigint, date date, FOREIGN KEY (stock_id, date)'
        ' REFERENCES "stocks_dailybar" (stock_id, date))',
    )
    try:
        report = maintenance.optimize_database(indexes=[ONE_PER_DAY])
    finally:
        sql('DROP TABLE "bar_note"')

    [step] = [step for step in report.steps if step.action == "rebuild"]
    assert step.status == "failed"
    assert step.error.startswith(f"cannot drop constraint {ONE_PER_DAY} on table stocks_dailybar because other")
    assert step.cleanup == f"dropped the valid leftover {ONE_PER_DAY}_swap"
    assert not report.ok
    assert report.still_changed == [ONE_PER_DAY]
    assert definition(ONE_PER_DAY) == "btree (stock_id, date)"  # all or nothing: the present one is still there
    assert index(f"{ONE_PER_DAY}_swap") is None


# --- A name the portal can't quote ----------------------------------------------------------------------

ODD_TABLE = 'odd"name'  # quote_name doesn't escape a double quote: no SQL is ever made with this name


@pytest.fixture
def odd_table():
    """A table someone made by hand with a double quote in its name; dropped again afterwards."""
    sql('CREATE TABLE "odd""name" (id integer PRIMARY KEY)')
    yield ODD_TABLE
    sql('DROP TABLE IF EXISTS "odd""name"')


def check_the_odd_table_is_skipped_and_the_rest_analyzed(odd_table):
    analyzed = maintenance.analyze_tables()
    skipped = next(step for step in analyzed.steps if step.name == odd_table)
    assert (skipped.status, skipped.sql) == ("skipped", [])
    assert skipped.note == f"{odd_table!r} holds a double quote, which the portal never puts into SQL: do it by hand"
    assert analyzed.ok
    assert analyzed.skipped == [odd_table]
    assert set(analyzed.done) == set(catalog.table_names()) - {odd_table}
    assert analyzed.summary.endswith(f"Skipped: {odd_table} ({skipped.note}).")

    optimized = maintenance.optimize_database()
    assert optimized.ok
    assert optimized.skipped == [odd_table]
    assert set(optimized.analyzed) == set(catalog.table_names()) - {odd_table}

    run = run_write("analyze_tables", {})
    assert run.status == "succeeded", run.error
    assert {step["name"]: step["status"] for step in run.result["steps"]}[odd_table] == "skipped"


@pg
def test_a_table_with_a_double_quote_is_skipped_with_a_note_and_the_run_goes_on_postgresql(odd_table):
    check_the_odd_table_is_skipped_and_the_rest_analyzed(odd_table)


@pytest.mark.sqlite
@pytest.mark.django_db
def test_a_table_with_a_double_quote_is_skipped_with_a_note_and_the_run_goes_on_sqlite(odd_table):
    check_the_odd_table_is_skipped_and_the_rest_analyzed(odd_table)


# --- The declared writes --------------------------------------------------------------------------------


@pg
def test_each_write_leaves_one_ops_run():
    sql(f'DROP INDEX "{DECLARED}"', f'CREATE INDEX "{EXTRA}" ON "stocks_stock" ("name")')

    runs = [
        run_write("optimize_database", {"dry_run": True}),
        run_write("optimize_database", {"indexes": [DECLARED]}),
        run_write("rebuild_indexes", {}),
        run_write("drop_indexes", {"indexes": EXTRA, "confirm": EXTRA}),
        run_write("analyze_tables", {"tables": "stocks_stock,stocks_dailybar"}),
        run_write("vacuum_tables", {"tables": ["stocks_stock"]}),
    ]

    assert [run.status for run in runs] == ["succeeded"] * len(runs), [run.error for run in runs]
    assert OpsRun.objects.count() == len(runs)
    dry, optimize, rebuild, drop, analyze, vacuum = runs
    assert dry.result["dry_run"]
    assert dry.result["still_missing"] == [DECLARED]
    assert optimize.result["created"] == [DECLARED]
    assert optimize.result["analyzed"] == ["stocks_stock"]
    optimize.refresh_from_db()
    assert optimize.progress is None  # finished: its steps say what was done
    assert [(step["action"], step["status"]) for step in optimize.result["steps"]][-1] == ("ANALYZE", "done")
    assert rebuild.summary == "No invalid index: nothing to rebuild."
    assert drop.result["done"] == [EXTRA]
    assert index(EXTRA) is None
    assert analyze.result["done"] == ["stocks_stock", "stocks_dailybar"]
    assert vacuum.summary == "VACUUM (ANALYZE) of 1 of 1 table done."
    queued = {"optimize_database", "rebuild_indexes", "create_suggested_indexes", "vacuum_tables"}
    for write in registry.get_capability("database").writes:  # the long ones go to the task worker
        assert write.targets == ((targets.TASK_WORKER,) if write.name in queued else (targets.HERE,)), write.name


@pytest.mark.django_db
def test_bad_arguments_are_form_errors_and_only_a_drop_leaves_a_refused_run():
    cases = [
        (
            "optimize_database",
            {"indexes": ["nope", "stocks_stock_pkey"]},
            {"indexes": ["Not a missing, invalid or changed index: nope, stocks_stock_pkey."]},
        ),
        ("rebuild_indexes", {"indexes": "nope"}, {"indexes": ["Unknown index: nope."]}),
        ("drop_indexes", {"indexes": "nope", "confirm": "nope"}, {"indexes": ["Unknown index: nope."]}),
        (
            "drop_indexes",
            {"indexes": DECLARED, "confirm": DECLARED},
            {"indexes": [f"Won't drop {DECLARED}: a model declares it."]},
        ),
        (
            "drop_indexes",
            {"indexes": ["stock_sector_cap_idx"]},
            {
                "indexes": ["Won't drop stock_sector_cap_idx: a model declares it."],
                "confirm": ["This field is required."],
            },
        ),
        ("drop_indexes", {}, {"indexes": ["This field is required."], "confirm": ["This field is required."]}),
        ("analyze_tables", {"tables": "stocks_stock, nope"}, {"tables": ["Unknown table: nope."]}),
        ("vacuum_tables", {"tables": {"a": 1}}, {"tables": ["Enter a list of values."]}),
    ]
    for name, data, errors in cases:
        with pytest.raises(InvalidArguments) as raised:
            run_write(name, data)
        assert raised.value.errors == errors, name
    refused = OpsRun.objects.order_by("pk")
    assert [(run.operation, run.status) for run in refused] == [("drop_indexes", "refused")] * 4  # the destructive one
    assert refused[1].arguments == {"indexes": DECLARED, "confirm": DECLARED}
    assert refused[1].error == f"indexes: Won't drop {DECLARED}: a model declares it."


@pytest.mark.django_db
def test_the_drop_form_wants_the_names_typed_again():
    drop = registry.get_write("drop_indexes")
    sql(f'CREATE INDEX "{EXTRA}" ON "stocks_stock" ("name")')  # rolled back with the test
    form = drop.form_class({"indexes": EXTRA, "confirm": "yes"})
    assert not form.is_valid()
    assert form.errors == {"confirm": [f"Type the index names exactly to confirm: {EXTRA}."]}
    assert drop.form_class({"indexes": [EXTRA], "confirm": EXTRA}).is_valid()


# --- SQLite -----------------------------------------------------------------------------------------------


@pytest.mark.sqlite
@pytest.mark.django_db
def test_sqlite_creates_a_missing_index_plainly():
    sql(f'DROP INDEX "{DECLARED}"')
    assert DECLARED in maintenance.missing_index_names()

    report = maintenance.create_missing_indexes()

    assert report.ok
    assert report.done == [DECLARED]
    assert report.steps[0].sql[0].startswith(f'CREATE INDEX "{DECLARED}"')
    assert DECLARED in catalog.index_names()
    assert maintenance.missing_index_names() == []


@pytest.mark.sqlite
@pytest.mark.django_db
def test_sqlite_analyze_and_what_it_does_not_have():
    make_stock("AAA")
    report = maintenance.analyze_tables(["stocks_stock"])
    assert report.ok
    assert report.steps[0].sql == ['ANALYZE "stocks_stock"']
    assert report.notes == ["SQLite: ANALYZE of each table, then PRAGMA optimize; no per-table VACUUM."]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'stocks_stock'")
        assert cursor.fetchone()[0] > 0

    rebuild = maintenance.rebuild_indexes()
    assert rebuild.ok
    assert rebuild.steps == []
    assert rebuild.summary == "SQLite has no invalid indexes: nothing to do."
    named = maintenance.rebuild_indexes([DECLARED, "sqlite_autoindex_stocks_stock_1"])
    assert named.done == [DECLARED, "sqlite_autoindex_stocks_stock_1"]
    assert [step.sql for step in named.steps] == [
        [f'REINDEX "main"."{DECLARED}"'],
        ['REINDEX "main"."sqlite_autoindex_stocks_stock_1"'],
    ]
    with pytest.raises(OperationFailed, match="VACUUM of single tables is not available on SQLite"):
        maintenance.analyze_tables(vacuum=True)


@pytest.mark.sqlite
@pytest.mark.django_db
def test_sqlite_optimize_and_drop():
    sql(f'DROP INDEX "{DECLARED}"', f'CREATE INDEX "{EXTRA}" ON "stocks_stock" ("name")')
    tables = catalog.table_names()  # before ANALYZE adds sqlite_stat1

    report = maintenance.optimize_database()

    assert report.created == [DECLARED]
    assert report.ok
    assert report.analyzed == tables
    with pytest.raises(Refused, match="it is a unique index"):
        maintenance.drop_indexes([unique_sqlite_index()], "x")
    assert maintenance.drop_indexes([EXTRA], EXTRA).steps[0].sql == [f'DROP INDEX "main"."{EXTRA}"']
    assert EXTRA not in catalog.index_names()


@pytest.mark.sqlite
@pytest.mark.django_db
def test_sqlite_builds_an_index_with_another_definition_again_from_its_declaration():
    sql(f'DROP INDEX "{DECLARED_ON_BARS}"', f'CREATE INDEX "{DECLARED_ON_BARS}" ON "stocks_dailybar" ("date")')
    assert maintenance.changed_index_names() == [DECLARED_ON_BARS]

    report = maintenance.optimize_database(indexes=[DECLARED_ON_BARS])

    assert report.ok, report.summary
    assert report.steps[0].sql == [f'DROP INDEX "{DECLARED_ON_BARS}"', BARS_DECLARED]
    assert report.rebuilt == [DECLARED_ON_BARS]
    assert maintenance.changed_index_names() == []
    assert index(DECLARED_ON_BARS).definition == BARS_DECLARED


def unique_sqlite_index():
    return next(row.name for row in catalog.index_rows() if row.unique and not row.primary)


@pytest.mark.sqlite
@pytest.mark.django_db
def test_sqlite_writes_leave_runs_and_vacuum_fails_clearly():
    analyze = run_write("analyze_tables", {})
    vacuum = run_write("vacuum_tables", {"tables": "stocks_stock"})
    assert analyze.status == "succeeded"
    assert vacuum.status == "failed"
    assert vacuum.error.startswith("VACUUM of single tables is not available on SQLite")
    assert OpsRun.objects.count() == 2
