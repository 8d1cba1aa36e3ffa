"""Issue 16's index-analysis correctness cases, each on real PostgreSQL.

Every schema the role can use is read (not only the search path), under odd names; the
index backing a constraint is never the one advised for dropping; INCLUDE columns compare
as a set; a left prefix is found next to expressions; the sequential-scan advice waits for
enough scans; partitioned indexes are described as what they are. Index suggestions
(with hypopg) consider each table of a join, prefer the narrowest index that wins, and
rebuild an INVALID index rather than propose another on its columns. A declared index
present with another definition is drift. Each test builds its case with SQL inside the
test's transaction, which puts the schema back.
"""

import json
import re

import pytest
from django.db import connection
from django.test import override_settings
from django.urls import reverse

from opsadmin.operations.database import catalog, drift, maintenance, suggestions
from opsadmin.operations.database.analysis import analyze_database
from opsadmin.operations.database.maintenance import Refused
from tests.helpers import OPERATORS, logged_in, sql
from tests.opsadmin.database.extensions import require_extensions

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

ODD = '"Odd Schema"'  # capitals and a space: only quoted SQL reaches it


def keys(rows):
    return {row.key for row in rows}


def duplicates():
    return {row.key: row.covered_by for row in catalog.duplicate_indexes()}


def planned_cost(query, *indexes):
    """The cost of `query`'s generic plan with just the hypothetical `indexes` ("table (columns)") there."""
    arguments = ", ".join(["NULL"] * len(set(re.findall(r"\$\d+", query))))
    sql("SELECT hypopg_reset()", *[f"SELECT hypopg_create_index('CREATE INDEX ON {index}')" for index in indexes])
    sql("SET plan_cache_mode = force_generic_plan", f"PREPARE premise AS {query}")
    try:
        ((plan,),) = sql(f"EXPLAIN (FORMAT JSON) EXECUTE premise({arguments})")
    finally:
        sql("DEALLOCATE premise", "RESET plan_cache_mode", "SELECT hypopg_reset()")
    return (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]["Total Cost"]


@pytest.fixture
def odd_schema():
    """A schema off the search path, holding a duplicate, an unused and an INVALID index under odd names."""
    sql(
        f"CREATE SCHEMA {ODD}",
        f'CREATE TABLE {ODD}."Trades" (id integer PRIMARY KEY, "Ticker" text, price integer)',
        f"INSERT INTO {ODD}.\"Trades\" SELECT n, 'T' || (n % 7), n FROM generate_series(1, 100) AS n",
        f'CREATE INDEX "Ticker Price" ON {ODD}."Trades" ("Ticker", price)',
        f'CREATE INDEX "Ticker Only" ON {ODD}."Trades" ("Ticker")',
        # INVALID as a failed concurrent build leaves it (a transaction can't run one).
        f'CREATE INDEX "Broken Build" ON {ODD}."Trades" (price)',
        'UPDATE pg_index SET indisvalid = false WHERE indexrelid = \'"Odd Schema"."Broken Build"\'::regclass',
    )
    return "Odd Schema"


# --- 1. Every schema, with the schema shown and quoted names ------------------------------------


def test_another_schemas_duplicate_unused_and_invalid_indexes_are_reported_by_schema_and_name(odd_schema):
    rows = {row.key: row for row in catalog.index_rows()}
    only = rows["Odd Schema.Ticker Only"]
    assert (only.schema, only.table, only.name, only.visible) == ("Odd Schema", "Trades", "Ticker Only", False)
    assert rows["stock_movers_idx"].visible  # the search path's indexes keep their plain names
    assert "Odd Schema.Ticker Only" in catalog.index_names()
    assert duplicates()["Odd Schema.Ticker Only"] == "Odd Schema.Ticker Price"
    assert "Odd Schema.Broken Build" in keys(catalog.invalid_indexes())

    with override_settings(PORTAL_UNUSED_INDEX_MIN_BYTES=0, PORTAL_UNUSED_INDEX_MIN_DAYS=0):
        analysis = analyze_database()
    assert "Odd Schema.Ticker Price" in keys(analysis.unused_indexes)
    advice = "\n".join(analysis.advice)
    assert (
        "Index Odd Schema.Ticker Only on Odd Schema.Trades (16.0 KiB) is covered by Odd Schema.Ticker Price: "
        "consider dropping it."
    ) in advice
    assert "Index Odd Schema.Broken Build on Odd Schema.Trades is INVALID (a failed concurrent build)" in advice
    assert "Index Odd Schema.Ticker Price on Odd Schema.Trades (16.0 KiB) has not been scanned in" in advice
    # Another schema's tables are nobody's model: not drift, not undeclared.
    assert not any(row.schema == "Odd Schema" for row in analysis.drift.undeclared)
    assert analysis.problems == []


def test_another_schemas_index_is_rebuilt_and_dropped_by_its_qualified_name(odd_schema):
    plan = maintenance.rebuild_indexes(dry_run=True)
    assert [(step.name, step.sql) for step in plan.steps] == [
        ("Odd Schema.Broken Build", ['REINDEX INDEX CONCURRENTLY "Odd Schema"."Broken Build"'])
    ]
    name = "Odd Schema.Ticker Only"
    dropped = maintenance.drop_indexes(name, name, dry_run=True)
    assert [step.sql for step in dropped.steps] == [['DROP INDEX CONCURRENTLY "Odd Schema"."Ticker Only"']]


def test_another_schemas_table_is_listed_and_maintained_by_its_qualified_name(odd_schema):
    tables = catalog.table_names()
    assert "Odd Schema.Trades" in tables
    assert tables.index("stocks_stock") < tables.index("Odd Schema.Trades")  # the search path's first
    vacuum = maintenance.vacuum_tables(["Odd Schema.Trades"], dry_run=True)
    assert [step.sql for step in vacuum.steps] == [['VACUUM (ANALYZE) "Odd Schema"."Trades"']]

    analyzed = maintenance.analyze_tables(["Odd Schema.Trades", "stocks_stock"], dry_run=True)
    assert [step.sql for step in analyzed.steps] == [['ANALYZE "Odd Schema"."Trades"'], ['ANALYZE "stocks_stock"']]
    with pytest.raises(maintenance.UnknownNames, match="unknown table: Trades"):
        maintenance.analyze_tables(["Trades"])  # off the search path, it is named with its schema


def test_an_index_named_with_a_double_quote_is_skipped_and_the_rest_still_runs(odd_schema):
    sql(f'CREATE INDEX "say ""cheese""" ON {ODD}."Trades" (id, price)')
    rows = {row.key: row for row in catalog.index_rows()}
    assert 'Odd Schema.say "cheese"' in rows
    assert analyze_database().indexes  # the analysis reads past it
    report = maintenance.rebuild_indexes(['Odd Schema.say "cheese"', "Odd Schema.Broken Build"], dry_run=True)
    assert [step.status for step in report.steps] == ["skipped", "planned"]
    assert "double quote" in report.steps[0].note


# --- 2. A constraint's index is never the one to drop -----------------------------------------


def test_the_plain_twin_of_a_constraint_index_is_the_duplicate_whatever_the_names():
    sql(
        "CREATE EXTENSION IF NOT EXISTS btree_gist",
        "CREATE TABLE booking (id integer PRIMARY KEY, room integer, during tsrange,"
        " CONSTRAINT a_no_overlap EXCLUDE USING gist (room WITH =, during WITH &&))",
        "CREATE INDEX z_plain_twin ON booking USING gist (room, during)",  # sorts after the constraint's
        "CREATE INDEX a_pk_twin ON booking (id)",  # sorts before the primary key's
        "ALTER TABLE booking ADD CONSTRAINT booking_room_key UNIQUE (room)",
        "CREATE INDEX aa_unique_twin ON booking (room)",
    )
    found = duplicates()
    assert found["z_plain_twin"] == "a_no_overlap"
    assert found["a_pk_twin"] == "booking_pkey"
    assert found["aa_unique_twin"] == "booking_room_key"
    assert not {"a_no_overlap", "booking_pkey", "booking_room_key"} & found.keys()
    assert "a_no_overlap" in maintenance.drop_refusals(["a_no_overlap"])


# --- 3. INCLUDE columns are a set ----------------------------------------------------------------


def test_include_columns_compare_as_a_set_whatever_their_order_or_the_names():
    sql(
        "CREATE TABLE quote (id integer PRIMARY KEY, a integer, b integer, c integer, d integer)",
        "CREATE INDEX quote_a_incl_cb ON quote (a) INCLUDE (c, b)",
        "CREATE INDEX quote_b_incl_bc ON quote (a) INCLUDE (b, c)",  # the same index: the later name is dropped
        "CREATE INDEX a_quote_incl_b ON quote (a) INCLUDE (b)",  # covered by either, though its name sorts first
        "CREATE INDEX quote_ad ON quote (a, d)",  # its key d is in no INCLUDE list: covered by none
        "CREATE INDEX quote_a_incl_d ON quote (a) INCLUDE (d)",  # covered by (a, d): a key serves as well
    )
    found = {key: value for key, value in duplicates().items() if key.startswith(("quote", "a_quote"))}
    assert found == {
        "quote_b_incl_bc": "quote_a_incl_cb",
        "a_quote_incl_b": "quote_a_incl_cb",
        "quote_a_incl_d": "quote_ad",
    }


# --- 4. A left prefix next to expressions ---------------------------------------------------------


def test_a_left_prefix_is_found_when_the_longer_index_mixes_columns_and_expressions():
    sql(
        "CREATE TABLE person (id integer PRIMARY KEY, a text, b text)",
        "CREATE INDEX person_a ON person (a)",
        "CREATE INDEX person_a_lower_b ON person (a, lower(b))",
        "CREATE INDEX person_lower_b ON person (lower(b))",
        "CREATE INDEX person_lower_b_a ON person (lower(b), a)",
        "CREATE INDEX person_upper_b ON person (upper(b))",  # another expression: covered by nothing
    )
    found = {key: value for key, value in duplicates().items() if key.startswith("person")}
    assert found == {"person_a": "person_a_lower_b", "person_lower_b": "person_lower_b_a"}


# --- 5. The sequential-scan advice needs enough scans --------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_table_needs_the_minimum_of_sequential_scans_before_it_may_be_missing_an_index(settings):
    from tests.opsadmin.database.test_analysis import flushed

    flushed(
        "CREATE TABLE few_scans (id integer PRIMARY KEY, value integer)",
        "INSERT INTO few_scans SELECT n, n % 100 FROM generate_series(1, 20000) AS n",
    )
    try:
        flushed("ANALYZE few_scans")
        flushed(*["SELECT count(*) FROM few_scans WHERE value = 7"] * 3, "SELECT value FROM few_scans WHERE id = 5")
        seq_scans = next(row.seq_scans for row in catalog.table_rows() if row.table == "few_scans")
        assert settings.PORTAL_SEQ_SCAN_MIN_SCANS == 100
        assert "few_scans" not in {row.table for row in catalog.sequential_scan_tables()}
        settings.PORTAL_SEQ_SCAN_MIN_SCANS = seq_scans
        assert "few_scans" in {row.table for row in catalog.sequential_scan_tables()}
        assert "few_scans" not in {row.table for row in catalog.sequential_scan_tables(min_scans=seq_scans + 1)}
    finally:
        sql("DROP TABLE few_scans")


# --- 6. Partitioned indexes ------------------------------------------------------------------------


@pytest.fixture
def partitions():
    sql(
        "CREATE TABLE tick (id integer, day date) PARTITION BY RANGE (day)",
        "CREATE TABLE tick_2025 PARTITION OF tick FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')",
        "CREATE TABLE tick_2026 PARTITION OF tick FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')",
        "CREATE INDEX tick_day ON tick (day)",  # builds and attaches tick_2025_day_idx, tick_2026_day_idx
        "CREATE INDEX tick_id ON ONLY tick (id)",  # INVALID until each partition's index is attached
        "CREATE INDEX tick_2025_id ON tick_2025 (id)",
        "ALTER INDEX tick_id ATTACH PARTITION tick_2025_id",  # tick_2026 has none yet
    )


def test_an_on_only_index_and_attached_indexes_are_what_they_are_never_a_failed_build(partitions):
    rows = {row.key: row for row in catalog.index_rows(["tick", "tick_2025", "tick_2026"])}
    parent = rows["tick_id"]
    assert (parent.partitioned, parent.valid, parent.waits_for_partitions) == (True, False, True)
    assert rows["tick_2025_id"].attached_to == "tick_id"
    assert rows["tick_2026_day_idx"].attached_to == "tick_day"
    assert "tick_id" not in keys(catalog.invalid_indexes())
    assert not {"tick_2025_id", "tick_2026_day_idx"} & set(maintenance.invalid_index_names())

    advice = "\n".join(analyze_database().advice)
    assert "Index tick_id on tick is a partitioned index made ON ONLY: it stays INVALID, by design" in advice
    assert "tick_id on tick is INVALID (a failed concurrent build)" not in advice

    refusals = maintenance.drop_refusals(["tick_id", "tick_2025_id", "tick_day"])
    assert refusals["tick_2025_id"].startswith("it is a partition's index attached to tick_id")
    assert "can't be dropped concurrently" in refusals["tick_id"]
    assert "can't be dropped concurrently" in refusals["tick_day"]
    with pytest.raises(Refused):
        maintenance.drop_indexes("tick_2025_id", "tick_2025_id", dry_run=True)
    (step,) = maintenance.rebuild_indexes("tick_id", dry_run=True).steps
    assert (step.status, step.sql) == ("skipped", [])
    assert "a rebuild can't make it valid" in step.note
    assert maintenance.rebuild_indexes(dry_run=True).steps == []  # no rebuild of every invalid one takes it


def test_a_partitions_twin_of_an_attached_index_is_the_duplicate(partitions):
    sql("CREATE INDEX a_day_twin ON tick_2025 (day)")
    found = duplicates()
    assert found["a_day_twin"] == "tick_2025_day_idx"
    assert "tick_2025_day_idx" not in found


def test_drift_reads_the_search_path_only(odd_schema):
    sql(
        f"CREATE TABLE {ODD}.stocks_stock (id integer PRIMARY KEY)",
        f"CREATE INDEX stock_movers_idx ON {ODD}.stocks_stock (id)",
    )
    sql("DROP INDEX public.stock_movers_idx")
    assert "stock_movers_idx" in {index.name for index in drift.missing_declared_indexes()}
    assert connection.vendor == "postgresql"


# --- 7. Index suggestions consider joins, per table of the plan ------------------------------------


@pytest.fixture
def traders():
    """30,000 traders (10 per desk) and as many trades (10 per symbol); ANALYZE reads each table whole."""
    require_extensions(suggestions.HYPOPG)
    sql(
        "CREATE TABLE trader (id integer PRIMARY KEY, desk integer, note text)",
        "CREATE TABLE trade (id integer PRIMARY KEY, trader_id integer, symbol integer, note text)",
        "INSERT INTO trader SELECT n, n % 3000, 'trader ' || n FROM generate_series(1, 30000) AS n",
        "INSERT INTO trade SELECT n, n, n % 3000, 'trade ' || n FROM generate_series(1, 30000) AS n",
        "CREATE INDEX trade_trader ON trade (trader_id)",
        "ANALYZE trader, trade",
    )


def test_a_join_gets_an_index_on_each_table_whose_own_index_halves_its_cost(traders):
    query = "SELECT t.note, d.note FROM trader t JOIN trade d ON d.trader_id = t.id WHERE t.desk = $1 AND d.symbol = $2"
    found = suggestions.suggest_indexes([query])
    assert sorted((suggestion.table, suggestion.columns) for suggestion in found) == [
        ("trade", ["symbol"]),
        ("trader", ["desk"]),
    ]
    for suggestion in found:
        assert suggestion.query == query
        assert suggestion.cost_after <= suggestion.cost_before / 2
        assert suggestion.cost_after == planned_cost(query, f"{suggestion.table} ({suggestion.columns[0]})")


def test_a_column_named_only_in_a_join_condition_counts_for_its_table_whatever_its_alias(traders):
    query = "SELECT peer.note FROM trader t JOIN trader peer ON peer.desk = t.desk WHERE t.id = $1"
    (suggestion,) = suggestions.suggest_indexes([query])
    assert (suggestion.table, suggestion.columns) == ("trader", ["desk"])
    assert suggestion.cost_after <= suggestion.cost_before / 2


# --- 8. The narrowest index that wins ---------------------------------------------------------------


@pytest.fixture
def fills():
    """30,000 fills: 10 per account, one in ten not settled (NULL), spread over 10 venues."""
    require_extensions(suggestions.HYPOPG)
    sql(
        "CREATE TABLE fill (id integer PRIMARY KEY, account integer, venue integer, settled integer, note text)",
        "INSERT INTO fill SELECT n, n % 3000, n / 3000 % 10, CASE WHEN n / 3000 % 10 = 0 THEN NULL ELSE n END,"
        " 'fill ' || n FROM generate_series(1, 30000) AS n",
        "ANALYZE fill",
    )


def test_the_one_column_index_wins_when_the_two_column_one_is_only_a_little_cheaper(fills):
    query = "SELECT id, note FROM fill WHERE account = $1 AND settled IS NOT NULL"
    narrow, wide = planned_cost(query, "fill (account)"), planned_cost(query, "fill (account, settled)")
    assert narrow / 2 < wide < narrow  # the premise
    (suggestion,) = suggestions.suggest_indexes([query])
    assert (suggestion.table, suggestion.columns, suggestion.cost_after) == ("fill", ["account"], narrow)


def test_the_two_column_index_wins_when_it_halves_the_one_column_ones_cost_again(fills):
    query = "SELECT id, note FROM fill WHERE account = $1 AND venue = $2"
    (suggestion,) = suggestions.suggest_indexes([query])
    narrow = planned_cost(query, "fill (account)")
    assert narrow <= suggestion.cost_before / 2  # the premise: the one-column index wins alone too
    assert (suggestion.table, sorted(suggestion.columns)) == ("fill", ["account", "venue"])
    assert suggestion.cost_after <= narrow / 2


# --- 9. Never an index beside an INVALID one on the same columns: rebuild that one -------------------


@pytest.fixture
def holdings():
    """30,000 holdings, 10 per account, and the query an index on account would serve."""
    require_extensions(suggestions.HYPOPG)
    sql(
        "CREATE TABLE holding (id integer PRIMARY KEY, account integer, note text)",
        "INSERT INTO holding SELECT n, n % 3000, 'holding ' || n FROM generate_series(1, 30000) AS n",
        "ANALYZE holding",
    )
    return "SELECT id, note FROM holding WHERE account = $1"


def invalid_index(name, definition):
    """An INVALID index, as a failed concurrent build leaves it (a transaction can't run one)."""
    sql(
        f"CREATE INDEX {name} ON {definition}",
        f"UPDATE pg_index SET indisvalid = false WHERE indexrelid = '{name}'::regclass",
    )


def test_the_invalid_index_on_the_winning_columns_is_to_be_rebuilt_not_built_again(holdings):
    invalid_index("holding_account_broken", "holding (account)")
    (suggestion,) = suggestions.suggest_indexes([holdings])
    assert (suggestion.table, suggestion.columns) == ("holding", ["account"])
    assert (suggestion.rebuild, suggestion.create_sql) == ("holding_account_broken", "")
    assert suggestion.cost_after <= suggestion.cost_before / 2


def test_an_invalid_index_with_a_predicate_or_other_keys_is_no_twin_so_the_index_is_created(holdings):
    invalid_index("holding_account_partial", "holding (account) WHERE id > 0")
    invalid_index("holding_account_id", "holding (account, id)")
    invalid_index("holding_account_hash", "holding USING hash (account)")
    (suggestion,) = suggestions.suggest_indexes([holdings])
    assert (suggestion.columns, suggestion.rebuild) == (["account"], "")
    assert suggestion.create_sql == f'CREATE INDEX "{suggestion.name}" ON "holding" ("account")'


def test_a_valid_index_on_the_columns_leaves_nothing_to_suggest_beside_an_invalid_twin(holdings):
    invalid_index("holding_account_broken", "holding (account)")
    sql("CREATE INDEX holding_account ON holding (account)")
    assert suggestions.suggest_indexes([holdings]) == []


def test_a_rebuild_suggestion_is_advised_and_shown_as_a_rebuild_and_can_not_be_created(holdings, settings):
    require_extensions(suggestions.PG_STAT_STATEMENTS)
    settings.PORTAL_SLOW_QUERY_MIN_CALLS, settings.PORTAL_SLOW_QUERY_MIN_MEAN_MS = 3, 0
    invalid_index("holding_account_broken", "holding (account)")
    with connection.cursor() as cursor:
        for account in range(3):
            cursor.execute("SELECT id, note FROM holding WHERE account = %s", [account])
    (suggestion,) = [found for found in suggestions.suggest_indexes() if found.table == "holding"]
    assert suggestion.rebuild == "holding_account_broken"

    advice = analyze_database().advice
    assert (
        "Rebuild the invalid index holding_account_broken: it would cut the planned cost of a slow query from "
        f"{suggestion.cost_before:,.0f} to {suggestion.cost_after:,.0f}."
    ) in advice
    assert not [line for line in advice if line.startswith("Index on holding ")]

    assert suggestion.name not in maintenance.suggested_index_names()
    with pytest.raises(maintenance.UnknownNames, match=f"not a current index suggestion: {suggestion.name}"):
        maintenance.create_suggested_indexes(suggestion.name, dry_run=True)
    assert "holding_account_broken" in [step.name for step in maintenance.rebuild_indexes(dry_run=True).steps]

    response = logged_in(OPERATORS).get(reverse("admin:ops_database"))
    assert {"create_suggested_indexes", "rebuild_indexes"} <= set(response.context["allowed_writes"])
    html = response.content.decode()
    row = html[html.index('data-rebuild="holding_account_broken"') :]
    row = row[: row.index("</tr>")]
    assert "Rebuild the invalid index <code>holding_account_broken</code> on holding (account)" in row
    assert "?indexes=holding_account_broken" in row
    assert "checkbox" not in row


# --- 10. Present under its name with another definition -------------------------------------------


def test_every_declared_index_reads_back_as_declared_after_migrate():
    """PostgreSQL reprints each declaration (casts, IN as = ANY, ASC dropped): none of them is called changed."""
    found = drift.index_drift()
    assert found.changed == []
    assert not found.missing
    sql("DROP INDEX stock_sector_cap_idx", "CREATE INDEX stock_sector_cap_idx ON stocks_stock (sector, market_cap)")
    [changed] = drift.index_drift().changed
    assert (changed.name, changed.present.definition.split(" USING ")[1]) == (
        "stock_sector_cap_idx",
        "btree (sector, market_cap)",  # neither DESC nor the partial WHERE is_active
    )
