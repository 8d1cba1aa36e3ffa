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
