"""The screen endpoint returns the right rows: filters, ordering, a choice of fields, cursor pages."""

from decimal import Decimal

import pytest

from opsadmin.operations.caches.stock_entries import invalidate_stocks
from stocks.models import Stock
from tests.stocks.factories import make_screen_market, make_stock

pytestmark = pytest.mark.django_db


@pytest.fixture
def market():
    make_screen_market()
    make_stock(
        "EEE", sector="Utilities", market_cap=600, volume=5, last_price=Decimal("7.25"), change_percent=Decimal("0")
    )


def screen(client, query=""):
    response = client.get(f"/api/stocks/?{query}")
    assert response.status_code == 200, response.content
    return response.json()


def tickers(page):
    return [row["ticker"] for row in page["results"]]


def test_default_screen_ranks_listed_stocks_by_market_cap(client, market):
    page = screen(client)
    assert tickers(page) == ["BBB", "CCC", "EEE", "AAA"]  # DDD has no market cap, ZZZ is delisted
    assert page["next_cursor"] is None
    assert page["results"][0] == {
        "ticker": "BBB",
        "name": "BBB Corp",
        "exchange": "NYSE",
        "sector": "Technology",
        "industry": "",
        "currency": "USD",
        "last_price": 50.0,
        "change_percent": -2.0,
        "volume": 30,
        "avg_volume_30d": None,
        "market_cap": 900,
        "pe_ratio": None,
        "dividend_yield": None,
        "week_52_high": None,
        "week_52_low": None,
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("min_price=6&max_price=20", ["CCC", "EEE"]),
        ("min_volume=20", ["BBB", "CCC"]),
        ("min_change=0&max_change=2", ["CCC", "EEE"]),
        ("min_market_cap=500&max_market_cap=700", ["CCC", "EEE"]),
        ("sector=Energy&sector=Utilities", ["CCC", "EEE"]),
        ("sector=Technology&min_price=10", ["BBB"]),
        ("sector=Nothing", []),
    ],
)
def test_filters(client, market, query, expected):
    assert tickers(screen(client, query)) == expected


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("ticker", ["AAA", "BBB", "CCC", "DDD", "EEE"]),
        ("-ticker", ["EEE", "DDD", "CCC", "BBB", "AAA"]),
        ("-volume", ["BBB", "CCC", "AAA", "EEE"]),
        ("change_percent", ["BBB", "EEE", "CCC", "AAA"]),
        ("last_price", ["AAA", "EEE", "CCC", "BBB"]),
        ("market_cap", ["AAA", "CCC", "EEE", "BBB"]),  # a tie (600) broken by ticker
    ],
)
def test_orderings(client, market, order, expected):
    assert tickers(screen(client, f"order={order}")) == expected


def test_fields_choose_the_row(client, market):
    page = screen(client, "fields=last_price&fields=sector&fields=last_price&fields=ticker&limit=1")
    assert page["results"] == [{"ticker": "BBB", "last_price": 50.0, "sector": "Technology"}]


@pytest.mark.parametrize("order", ["-market_cap", "market_cap", "ticker", "-ticker", "change_percent", "-last_price"])
def test_cursor_pages_walk_every_row_once_in_order(client, market, order):
    whole = tickers(screen(client, f"order={order}"))
    walked, cursor = [], ""
    for _ in range(10):
        page = screen(client, f"order={order}&limit=2{cursor}")
        walked += tickers(page)
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert walked == whole


def test_a_cursor_keeps_its_place_when_rows_are_added_before_it(client, market):
    first = screen(client, "order=ticker&limit=2")
    make_stock("AAB")
    assert tickers(screen(client, f"order=ticker&limit=2&cursor={first['next_cursor']}")) == ["CCC", "DDD"]


def test_screens_are_cached_and_a_stocks_invalidation_refreshes_its_row(client, market):
    assert screen(client, "limit=1")["results"][0]["last_price"] == 50.0
    Stock.objects.filter(ticker="BBB").update(last_price=Decimal("51"))
    assert screen(client, "limit=1")["results"][0]["last_price"] == 50.0  # from the cache
    invalidate_stocks(["BBB"])
    assert screen(client, "limit=1")["results"][0]["last_price"] == 51.0


def test_a_cached_screen_drops_a_delisted_stock(client, market):
    assert tickers(screen(client)) == ["BBB", "CCC", "EEE", "AAA"]
    Stock.objects.filter(ticker="CCC").update(is_active=False)
    invalidate_stocks(["CCC"])
    assert tickers(screen(client)) == ["BBB", "EEE", "AAA"]
