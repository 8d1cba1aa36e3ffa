"""The query shapes of OptimizedStockManager return the right rows (SQLite and PostgreSQL)."""

import datetime
from decimal import Decimal

import pytest

from stocks.models import DailyBar, Stock
from stocks.querysets import LIST_COLUMNS
from tests.stocks.factories import make_bars, make_screen_market, make_stock

pytestmark = pytest.mark.django_db


def tickers(queryset):
    return [stock.ticker for stock in queryset]


@pytest.fixture
def market():
    make_screen_market()


def test_active_leaves_out_delisted_stocks(market):
    assert sorted(tickers(Stock.objects.active())) == ["AAA", "BBB", "CCC", "DDD"]


def test_list_rows_loads_only_list_columns_in_ticker_order(market):
    rows = list(Stock.objects.list_rows())
    assert tickers(rows) == ["AAA", "BBB", "CCC", "DDD"]
    loaded = {field.attname for field in Stock._meta.concrete_fields} - rows[0].get_deferred_fields()
    assert loaded == {"id", *LIST_COLUMNS}


def test_screen_by_sector_orders_by_market_cap(market):
    assert tickers(Stock.objects.screen(sectors=["Technology"])) == ["BBB", "AAA"]


def test_screen_ranges_combine(market):
    screen = Stock.objects.screen(min_price=Decimal("10"), max_price=Decimal("60"), min_volume=15, order_by="ticker")
    assert tickers(screen) == ["BBB", "CCC"]
    assert tickers(Stock.objects.screen(min_change=Decimal("0"), max_change=Decimal("2"))) == ["CCC"]
    assert tickers(Stock.objects.screen(min_market_cap=500, max_market_cap=700)) == ["CCC"]


def test_screen_leaves_out_stocks_it_cannot_rank_and_respects_limit(market):
    assert tickers(Stock.objects.screen(order_by="-volume")) == ["BBB", "CCC", "AAA"]
    assert tickers(Stock.objects.screen(order_by="volume", limit=2)) == ["AAA", "CCC"]
    assert tickers(Stock.objects.screen(order_by="-ticker", limit=2)) == ["DDD", "CCC"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [({"order_by": "name"}, "cannot order"), ({"limit": 0}, "limit"), ({"limit": 501}, "limit")],
)
def test_screen_rejects_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        Stock.objects.screen(**arguments)


def test_top_movers_in_both_directions(market):
    assert tickers(Stock.objects.top_movers(limit=2)) == ["AAA", "CCC"]
    assert tickers(Stock.objects.top_movers(limit=5, direction="down")) == ["BBB", "CCC", "AAA"]
    with pytest.raises(ValueError, match="direction"):
        Stock.objects.top_movers(direction="sideways")


def test_bars_between_dates_are_inclusive_ordered_and_one_stock_only():
    first, other = make_stock("AAA"), make_stock("BBB")
    start = datetime.date(2026, 1, 1)
    make_bars(first, start, 10)
    make_bars(other, start, 10)
    bars = list(DailyBar.objects.between(first, datetime.date(2026, 1, 3), datetime.date(2026, 1, 6)))
    assert [bar.date.day for bar in bars] == [3, 4, 5, 6]
    assert {bar.stock_id for bar in bars} == {first.pk}


def test_export_rows_streams_every_active_stock_in_chunks(market):
    assert tickers(Stock.objects.export_rows(chunk_size=2)) == ["AAA", "BBB", "CCC", "DDD"]
