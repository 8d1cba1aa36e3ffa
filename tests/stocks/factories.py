"""Small builders for stocks and bars in tests: explicit values, nothing random."""

import datetime
from decimal import Decimal

from stocks.models import DailyBar, Stock


def make_stock(ticker, **fields):
    defaults = {
        "name": f"{ticker} Corp",
        "exchange": "NYSE",
        "sector": "Technology",
        "last_price": Decimal("10"),
        "change_percent": Decimal("0"),
        "volume": 1000,
        "market_cap": 1_000_000,
    }
    return Stock.objects.create(ticker=ticker, **{**defaults, **fields})


def make_screen_market():
    """Stocks for screens: two sectors, a stock with no market data, and a delisted one that ranks first."""
    make_stock(
        "AAA", sector="Technology", market_cap=300, volume=10, last_price=Decimal("5"), change_percent=Decimal("4.5")
    )
    make_stock(
        "BBB", sector="Technology", market_cap=900, volume=30, last_price=Decimal("50"), change_percent=Decimal("-2")
    )
    make_stock("CCC", sector="Energy", market_cap=600, volume=20, last_price=Decimal("20"), change_percent=Decimal("1"))
    make_stock("DDD", sector="Energy", market_cap=None, volume=None, last_price=None, change_percent=None)
    make_stock("ZZZ", sector="Technology", market_cap=5000, volume=999, change_percent=Decimal("50"), is_active=False)


def make_bars(stock, start, days, price=Decimal("10")):
    """`days` consecutive calendar days of flat bars from `start`."""
    return DailyBar.objects.bulk_create(
        DailyBar(
            stock=stock,
            date=start + datetime.timedelta(days=offset),
            open=price,
            high=price + 1,
            low=price - 1,
            close=price,
            volume=100 + offset,
        )
        for offset in range(days)
    )
