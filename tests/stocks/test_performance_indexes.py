"""Migration 0003 builds the performance indexes, and each query shape uses its own."""

import datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from stocks.models import DailyBar, Stock
from tests.stocks.factories import make_bars, make_stock

pytestmark = pytest.mark.django_db

PERFORMANCE_INDEXES = {
    "stock_sector_cap_idx",
    "stock_active_volume_idx",
    "stock_movers_idx",
    "dailybar_stock_date_idx",
}


def index_names():
    with connection.cursor() as cursor:
        constraints = {
            **connection.introspection.get_constraints(cursor, Stock._meta.db_table),
            **connection.introspection.get_constraints(cursor, DailyBar._meta.db_table),
        }
    return {name for name, info in constraints.items() if info["index"]}


def test_declared_indexes_exist_after_migrating():
    declared = {index.name for model in (Stock, DailyBar) for index in model._meta.indexes}
    assert declared == PERFORMANCE_INDEXES
    assert index_names() >= PERFORMANCE_INDEXES


def migration_sql():
    out = StringIO()
    call_command("sqlmigrate", "stocks", "0003", stdout=out)
    return out.getvalue()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # sqlmigrate refuses inside the test's transaction
def test_0003_builds_concurrently_outside_a_transaction_on_postgresql():
    sql = migration_sql()
    assert sql.count("CREATE INDEX CONCURRENTLY") == len(PERFORMANCE_INDEXES)
    assert "BEGIN" not in sql


@pytest.mark.sqlite
@pytest.mark.django_db(transaction=True)  # SQLite's schema editor refuses inside a transaction
def test_0003_builds_plainly_on_sqlite():
    sql = migration_sql()
    assert "CONCURRENTLY" not in sql
    assert sql.count("CREATE INDEX") == len(PERFORMANCE_INDEXES)


@pytest.fixture
def analyzed_market():
    """Enough rows that the statistics are real, then ANALYZE."""
    sectors = ["Technology", "Energy", "Health Care", "Utilities"]
    stocks = [
        make_stock(
            f"T{number:03d}",
            sector=sectors[number % len(sectors)],
            market_cap=number * 1000,
            volume=number * 7 % 1000,
            change_percent=number % 21 - 10,
            is_active=number % 10 != 0,
        )
        for number in range(400)
    ]
    for stock in stocks[:40]:
        make_bars(stock, datetime.date(2026, 1, 1), 60)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Stock._meta.db_table}")
        cursor.execute(f"ANALYZE {DailyBar._meta.db_table}")
    return stocks


def plan(queryset):
    """EXPLAIN with sequential scans priced out, so the plan shows which index serves the shape.

    At test sizes a scan of a few pages is cheapest; what matters here is that the
    shape *can* use its index (the benchmark measures the speed at scale).
    """
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    return queryset.explain()


SHAPES = {
    "stock_sector_cap_idx": lambda stocks: Stock.objects.screen(sectors=["Energy"], order_by="-market_cap"),
    "stock_active_volume_idx": lambda stocks: Stock.objects.screen(order_by="-volume", min_volume=500),
    "stock_movers_idx": lambda stocks: Stock.objects.top_movers(limit=10),
    "dailybar_stock_date_idx": lambda stocks: DailyBar.objects.between(
        stocks[5], datetime.date(2026, 1, 10), datetime.date(2026, 2, 10)
    ),
}


@pytest.mark.postgres
@pytest.mark.parametrize("index_name", sorted(SHAPES))
def test_each_shape_uses_its_index_on_postgresql(analyzed_market, index_name):
    assert index_name in plan(SHAPES[index_name](analyzed_market))


@pytest.mark.postgres
def test_top_movers_up_reads_the_same_index_backwards(analyzed_market):
    assert "Index Scan Backward using stock_movers_idx" in plan(Stock.objects.top_movers(direction="up"))
    assert "Index Scan using stock_movers_idx" in plan(Stock.objects.top_movers(direction="down"))
