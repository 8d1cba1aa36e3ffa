"""The database analysis finds each kind of drift for real, on PostgreSQL and on SQLite.

Each test builds its drift with SQL (drop a declared index, add a duplicate, leave an
INVALID index from a failed concurrent build, add an unused one) and checks that the
analysis names it. Most run inside the test's transaction, which puts the schema back;
the concurrent builds can't, so their test restores the indexes itself.
"""

import threading
import time

import pytest
from django.db import IntegrityError, connection
from django.test import override_settings

from opsadmin.operations.database import catalog, drift, suggestions
from opsadmin.operations.database.analysis import (
    NOT_ON_SQLITE,
    POSTGRES_SECTIONS,
    IndexHealth,
    analyze_database,
    index_health,
)
from stocks.models import DailyBar, Stock
from stocks.seeding import seed_stocks
from tests.helpers import sql
from tests.opsadmin.database.extensions import require_extensions
from tests.stocks.factories import make_stock

pytestmark = pytest.mark.django_db


def fetch_one(statement):
    with connection.cursor() as cursor:
        cursor.execute(statement)
        return cursor.fetchone()[0]


def names(rows):
    return {row.name for row in rows}


# --- Both databases ------------------------------------------------------------------------


def test_a_fresh_migrate_has_no_drift():
    found = drift.index_drift()
    assert (found.missing, found.invalid, found.building, found.undeclared) == ([], [], [], [])
    assert index_health().ok


def test_declared_indexes_come_from_meta_constraints_and_fields_with_django_names():
    declared = {index.name: index for index in drift.declared_indexes()}
    movers = declared["stock_movers_idx"]
    assert (movers.kind, movers.table, movers.model, movers.columns) == (
        drift.INDEX,
        "stocks_stock",
        "stocks.Stock",
        ["change_percent"],
    )
    assert movers.index is next(index for index in Stock._meta.indexes if index.name == "stock_movers_idx")
    one_per_day = declared["dailybar_one_per_stock_and_date"]
    assert (one_per_day.kind, one_per_day.columns, one_per_day.unique) == (drift.CONSTRAINT, ["date", "stock_id"], True)
    assert one_per_day.index is DailyBar._meta.constraints[0]
    # The foreign key's index Django makes for OpsRun.user, by Django's hashed name.
    assert any(
        index.kind == drift.FIELD_INDEX and index.table == "opsadmin_opsrun" and index.columns == ["user_id"]
        for index in declared.values()
    )
    assert declared["stocks_stock_ticker_key"].kind == drift.UNIQUE_FIELD
    assert declared["stocks_stock_ticker_key"].implicit


def test_a_dropped_declared_index_is_missing_and_a_problem():
    sql("DROP INDEX stock_movers_idx")
    assert names(drift.missing_declared_indexes()) == {"stock_movers_idx"}
    assert index_health() == IndexHealth(missing=["stock_movers_idx"], invalid=[], changed=[])
    analysis = analyze_database()
    assert analysis.problems == ["Declared index stock_movers_idx on stocks_stock (stocks.Stock) is missing."]
    assert "declared indexes: 1 missing;" in analysis.summary


def test_an_index_no_model_declares_is_undeclared():
    sql("CREATE INDEX stock_industry_idx ON stocks_stock (industry)")
    assert names(drift.index_drift().undeclared) == {"stock_industry_idx"}
    analysis = analyze_database()
    assert analysis.problems == []
    assert any("stock_industry_idx" in advice and "declared by no model" in advice for advice in analysis.advice)


def test_index_and_table_names_for_validating_input():
    assert {"stock_movers_idx", "dailybar_stock_date_idx"} <= set(catalog.index_names())
    assert {"stocks_stock", "stocks_dailybar"} <= set(catalog.table_names())


# --- SQLite ----------------------------------------------------------------------------------


@pytest.mark.sqlite
def test_on_sqlite_the_analysis_has_drift_and_the_index_list_and_says_what_is_not_available():
    analysis = analyze_database()
    assert analysis.vendor == "sqlite"
    rows = {row.name: row for row in analysis.indexes}
    sector = rows["stock_sector_cap_idx"]
    assert (sector.table, sector.columns, sector.predicate) == (
        "stocks_stock",
        ["sector", "market_cap"],
        '"is_active" = 1',
    )
    # SQLite names a UNIQUE column's index itself; drift matches it by its columns.
    (ticker,) = [row for row in analysis.indexes if row.table == "stocks_stock" and row.constraint == "UNIQUE"]
    assert (ticker.columns, ticker.unique, ticker.name) == (["ticker"], True, "sqlite_autoindex_stocks_stock_1")
    assert analysis.drift.undeclared == []
    for section in POSTGRES_SECTIONS:
        assert getattr(analysis, section) is None
    assert analysis.not_available == [f"{title}: {NOT_ON_SQLITE}" for title in POSTGRES_SECTIONS.values()]


# --- PostgreSQL ------------------------------------------------------------------------------


@pytest.mark.postgres
def test_postgresql_analysis_fills_every_section():
    analysis = analyze_database()
    assert analysis.vendor == "postgresql"
    assert analysis.problems == []
    for section in set(POSTGRES_SECTIONS) - {"slow_queries", "suggestions"}:  # those need the extensions
        assert getattr(analysis, section) is not None, section
    tables = {row.table: row for row in analysis.tables}
    assert tables["stocks_stock"].total_bytes >= tables["stocks_stock"].index_bytes > 0
    primary = next(row for row in analysis.indexes if row.name == "stocks_stock_pkey")
    assert (primary.primary, primary.unique, primary.constraint, primary.valid) == (
        True,
        True,
        "stocks_stock_pkey",
        True,
    )


@pytest.mark.postgres
def test_a_left_prefix_with_the_same_predicate_is_a_duplicate():
    sql(
        "CREATE INDEX stock_sector_dup_idx ON stocks_stock (sector) WHERE is_active",
        # Same column, no predicate: the partial stock_sector_cap_idx can't serve its queries.
        "CREATE INDEX stock_sector_all_idx ON stocks_stock (sector)",
    )
    duplicates = {row.name: row for row in catalog.duplicate_indexes()}
    assert duplicates["stock_sector_dup_idx"].covered_by == "stock_sector_cap_idx"
    assert "stock_sector_all_idx" not in duplicates
    advice = analyze_database().advice
    assert any("stock_sector_dup_idx" in line and "covered by stock_sector_cap_idx" in line for line in advice)


@pytest.mark.postgres
def test_an_unused_index_is_found_above_the_size_threshold_once_its_counter_is_old_enough():
    sql("CREATE INDEX stock_industry_idx ON stocks_stock (industry)")
    unused = names(catalog.unused_indexes(min_bytes=0))
    assert "stock_industry_idx" in unused
    assert not unused & {"stocks_stock_pkey", "stocks_stock_ticker_key", "dailybar_one_per_stock_and_date"}
    assert "stock_industry_idx" not in names(catalog.unused_indexes())  # 8 KiB, under the default 10 MiB

    # This test database's statistics started minutes ago: too soon to call anything unused.
    with override_settings(PORTAL_UNUSED_INDEX_MIN_BYTES=0):
        young = analyze_database()
    assert "stock_industry_idx" not in names(young.unused_indexes)
    assert "stock_industry_idx" in names(young.unused_not_judged)
    assert not any("stock_industry_idx" in line and "scanned" in line for line in young.advice)
    unused_check = next(check for check in young.checks if "unused" in check.text)
    assert (unused_check.status, unused_check.text) == ("ok", "No unused indexes over 0 B")
    assert "judged once counted for 7 days (PORTAL_UNUSED_INDEX_MIN_DAYS)" in unused_check.detail

    with override_settings(PORTAL_UNUSED_INDEX_MIN_BYTES=0, PORTAL_UNUSED_INDEX_MIN_DAYS=0):
        old = analyze_database()
    assert "stock_industry_idx" in names(old.unused_indexes)
    (line,) = [line for line in old.advice if "stock_industry_idx" in line]  # one line, not two that disagree
    assert line.startswith(
        "Index stock_industry_idx on stocks_stock (8.0 KiB) is declared by no model and has not been scanned in "
        "under a day (since "
    )
    assert line.endswith(": consider dropping it.")


@pytest.mark.postgres
def test_the_scan_counters_count_since_the_reset_or_at_the_latest_since_the_first_migration():
    first_migration = fetch_one("SELECT min(applied) FROM django_migrations")
    started = fetch_one("SELECT pg_postmaster_start_time()")
    statistics = catalog.scan_statistics()
    if statistics.reset_at is None:
        assert statistics.counting_since == max(first_migration, started)
    if not fetch_one("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"):
        pytest.skip("resetting the statistics needs a superuser")
    sql("SELECT pg_stat_reset()", "SELECT pg_stat_clear_snapshot()")
    statistics = catalog.scan_statistics()
    assert fetch_one("SELECT now() - interval '1 minute'") < statistics.reset_at == statistics.counting_since


@pytest.fixture
def restore_stock_indexes():
    """Put stock_movers_idx back and drop the test's leftovers: DDL outside a transaction stays."""
    yield
    sql("DROP INDEX IF EXISTS stock_name_uniq", "DROP INDEX IF EXISTS stock_movers_idx")
    with connection.schema_editor() as editor:
        editor.add_index(Stock, next(index for index in Stock._meta.indexes if index.name == "stock_movers_idx"))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # CREATE INDEX CONCURRENTLY can't run in the test's transaction
def test_failed_concurrent_unique_builds_leave_invalid_indexes(restore_stock_indexes):
    make_stock("AAA", name="Same name", change_percent=1)
    make_stock("BBB", name="Same name", change_percent=1)
    with pytest.raises(IntegrityError):
        sql("CREATE UNIQUE INDEX CONCURRENTLY stock_name_uniq ON stocks_stock (name)")
    # A declared index whose rebuild failed the same way: present under its name, INVALID.
    sql("DROP INDEX stock_movers_idx")
    with pytest.raises(IntegrityError):
        sql("CREATE UNIQUE INDEX CONCURRENTLY stock_movers_idx ON stocks_stock (change_percent) WHERE is_active")

    assert names(catalog.invalid_indexes()) == {"stock_name_uniq", "stock_movers_idx"}
    found = drift.index_drift()
    assert (found.missing, names(found.invalid)) == ([], {"stock_movers_idx"})
    assert names(found.undeclared) == {"stock_name_uniq"}
    assert index_health().invalid == ["stock_movers_idx"]
    analysis = analyze_database()
    assert analysis.problems == [
        "Declared index stock_movers_idx on stocks_stock is INVALID (a failed concurrent build): rebuild it."
    ]
    assert any("stock_name_uniq" in line and "INVALID" in line for line in analysis.advice)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # the build runs on its own connection, outside a transaction
def test_an_index_still_being_built_is_not_invalid(restore_stock_indexes):
    """A concurrent build waits for older snapshots with its index INVALID: that is progress, not a failure."""
    sql("DROP INDEX stock_movers_idx")
    params = connection.get_connection_params()
    holder, builder = connection.get_new_connection(params), connection.get_new_connection(params)
    builder.autocommit = True
    create = "CREATE INDEX CONCURRENTLY stock_movers_idx ON stocks_stock (change_percent) WHERE is_active"
    build = threading.Thread(target=lambda: builder.cursor().execute(create))
    try:
        with holder.cursor() as cursor:  # an open snapshot the build has to wait out
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("SELECT 1")
        build.start()
        deadline = time.monotonic() + 10
        while not any(row.building for row in catalog.index_rows(["stocks_stock"])):
            assert time.monotonic() < deadline, "the concurrent build never showed in pg_stat_progress_create_index"
            time.sleep(0.05)
        assert "stock_movers_idx" not in names(catalog.invalid_indexes())
        found = drift.index_drift()
        assert (names(found.building), found.invalid, found.missing) == ({"stock_movers_idx"}, [], [])
    finally:
        holder.rollback()
        if build.is_alive():
            build.join(10)
        holder.close()
        builder.close()


def flushed(*statements):
    """Run `statements`, then flush this session's statistics: visible to the next statement, not in a second."""
    sql(*statements, "SELECT pg_stat_force_next_flush()")
    sql("SELECT pg_stat_clear_snapshot()")


@pytest.fixture
def probe_table(transactional_db):
    """A table of 20,000 rows only this test reads, so its scan counters count this test's scans alone."""
    flushed(  # its rows flushed to the statistics before ANALYZE counts them, or they would count twice
        "CREATE TABLE scan_probe (id integer PRIMARY KEY, value integer)",
        "INSERT INTO scan_probe SELECT n, n % 100 FROM generate_series(1, 20000) AS n",
    )
    flushed("ANALYZE scan_probe")
    yield "scan_probe"
    sql("DROP TABLE scan_probe")


@pytest.mark.postgres
@override_settings(PORTAL_SEQ_SCAN_MIN_SCANS=4)  # the floor of sequential scans: this test's four
def test_a_table_may_be_missing_an_index_by_pghero_s_rule_and_wording(probe_table):
    built = next(row for row in catalog.table_rows() if row.table == probe_table)
    assert built.index_scans == 0  # building its primary key read it once, sequentially
    flushed(*[f"SELECT count(*) FROM {probe_table} WHERE value = 7"] * (4 - built.seq_scans))
    # Only sequential scans: PgHero's "insufficient data", not reported.
    assert probe_table not in {row.table for row in catalog.sequential_scan_tables()}

    flushed(f"SELECT value FROM {probe_table} WHERE id = 5")
    scanned = {row.table: row for row in catalog.sequential_scan_tables()}[probe_table]
    assert (scanned.seq_scans, scanned.index_scans, scanned.live_rows) == (4, 1, 20_000)
    assert scanned.index_use_percent == 20  # 100 * 1 / 5
    assert probe_table not in {row.table for row in catalog.sequential_scan_tables(scanned.live_rows + 1)}
    assert probe_table not in {row.table for row in catalog.sequential_scan_tables(max_index_use_percent=20)}
    assert (
        f"Table {probe_table} (20,000 rows) may be missing an index: an index was used 20 % of the times it was "
        "scanned (PgHero's rule: under 95 % from 10,000 rows)."
    ) in analyze_database().advice
    flushed(*[f"SELECT value FROM {probe_table} WHERE id = {n}" for n in range(10, 85)])  # 76 of 80: 95 %
    assert probe_table not in {row.table for row in catalog.sequential_scan_tables()}
    probe = next(row for row in catalog.table_rows() if row.table == probe_table)
    assert probe.live_rows == scanned.live_rows
    assert probe.total_bytes > probe.table_bytes > 0


# --- Suggestions (PostgreSQL, pg_stat_statements and hypopg) --------------------------------


@pytest.fixture
def bars():
    seed_stocks(stocks=40, days=500, seed=1)  # 20,000 bars, ANALYZEd: a seq scan costs a few hundred


@pytest.mark.postgres
def test_hypopg_suggests_an_index_that_halves_the_planned_cost(bars):
    require_extensions(suggestions.HYPOPG)
    present = catalog.index_names()
    query = "SELECT id, date, close FROM stocks_dailybar WHERE volume = $1"
    (suggestion,) = suggestions.suggest_indexes([query])
    assert (suggestion.table, suggestion.columns, suggestion.query) == ("stocks_dailybar", ["volume"], query)
    assert suggestion.cost_after <= suggestion.cost_before / 2
    assert suggestion.create_sql == f'CREATE INDEX "{suggestion.name}" ON "stocks_dailybar" ("volume")'
    # Hypothetical only: nothing built, nothing left behind in the session.
    assert catalog.index_names() == present
    assert fetch_one("SELECT count(*) FROM hypopg_list_indexes") == 0
    assert fetch_one("SELECT count(*) FROM pg_prepared_statements") == 0
    assert fetch_one("SHOW plan_cache_mode") == "auto"
    joined = "SELECT * FROM stocks_dailybar d JOIN stocks_stock s ON s.id = d.stock_id WHERE d.volume = $1"
    (on_the_join,) = suggestions.suggest_indexes([joined])
    assert (on_the_join.table, on_the_join.columns) == ("stocks_dailybar", ["volume"])


@pytest.mark.postgres
def test_no_suggestion_where_an_index_already_serves_the_query_or_it_cannot_be_planned(bars):
    require_extensions(suggestions.HYPOPG)
    queries = [
        "SELECT * FROM stocks_dailybar WHERE stock_id = $1 ORDER BY date DESC",  # dailybar_stock_date_idx
        "SELECT * FROM stocks_dailybar d JOIN stocks_stock s ON s.id = d.stock_id WHERE s.ticker = $1",  # served too
        "SELECT * FROM no_such_table WHERE x = $1",
        "SELECT 1; DROP TABLE stocks_dailybar",
        "DELETE FROM stocks_dailybar WHERE volume = $1",
    ]
    assert suggestions.suggest_indexes(queries) == []
    assert DailyBar.objects.count() == 20_000


@pytest.mark.postgres
def test_suggestions_from_the_slow_queries_of_pg_stat_statements(bars):
    require_extensions(suggestions.PG_STAT_STATEMENTS, suggestions.HYPOPG)
    for volume in range(5):
        list(DailyBar.objects.filter(volume=1000 + volume).values_list("id", flat=True))
    slow = [
        query
        for query in suggestions.slow_queries(min_calls=5, min_mean_ms=0, limit=1000)
        if '"stocks_dailybar"."volume" = $1' in query.query
    ]
    assert slow
    assert slow[0].calls >= 5
    found = suggestions.suggest_indexes(min_calls=5, min_mean_ms=0, limit=1000)
    assert any(suggestion.table == "stocks_dailybar" and suggestion.columns[0] == "volume" for suggestion in found)


@pytest.mark.postgres
def test_without_the_extensions_the_analysis_says_what_is_missing_and_how_to_enable_it():
    sql("DROP EXTENSION IF EXISTS hypopg", "DROP EXTENSION IF EXISTS pg_stat_statements")  # rolled back
    status = {status.name: status for status in suggestions.extension_status()}
    hypopg, statements = status["hypopg"], status["pg_stat_statements"]
    assert not hypopg.ready
    assert "CREATE EXTENSION hypopg" in hypopg.how_to_enable
    assert not statements.ready
    assert "CREATE EXTENSION pg_stat_statements" in statements.how_to_enable
    assert suggestions.suggest_indexes(["SELECT * FROM stocks_dailybar WHERE volume = $1"]) == []
    analysis = analyze_database()
    assert (analysis.slow_queries, analysis.suggestions) == (None, None)
    assert statements.how_to_enable in " ".join(analysis.advice)
    assert any(line.startswith("Index suggestions: ") and "hypopg" in line for line in analysis.not_available)
    assert analysis.problems == []
