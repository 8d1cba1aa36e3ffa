"""Cache keys of stock data: the one place they are built, so the scanner and the invalidation agree.

Every cached entry of one stock has a key `stock:<TICKER>:<kind>[:<part>...]` in the
STOCK_CACHE_ALIAS cache (Django adds that alias's KEY_PREFIX and VERSION in front). So a
stock's entries form one family: invalidating a stock is a scoped SCAN of
`<prefix>:<version>:stock:<TICKER>:*` that deletes them all and says how many it deleted
(stocks/cache_invalidation.py).

Why a key family rather than a per-stock generation counter in every key: a generation
costs every read a second round trip (the counter, then the entry), leaves stale entries in
memory until their TTL and can't tell how many it invalidated. Invalidation is a rare staff
action; one SCAN pass in batches (never KEYS) is cheap enough for it and keeps reads at one GET.
"""

import datetime
import hashlib
import json

from stocks.tickers import normalize_ticker

STOCK_CACHE_ALIAS = "default"
FAMILY = "stock"
SCREENS = "screen"
SNAPSHOT, BARS = "snapshot", "bars"


def stock_key(ticker, kind, *parts):
    """The key of one cached thing about `ticker`. Tickers are canonicalized, so "aapl" and "AAPL" share entries."""
    values = [normalize_ticker(ticker), kind, *(_part(part) for part in parts)]
    return ":".join([FAMILY, *values])


def stock_snapshot_key(ticker):
    """The stock's list columns (stocks.cached.stock_snapshot)."""
    return stock_key(ticker, SNAPSHOT)


def stock_bars_key(ticker, start, end):
    """The stock's daily bars between two dates."""
    return stock_key(ticker, BARS, start, end)


def screen_key(arguments, after):
    """The key of one screen page: its arguments and where it starts, hashed. It holds tickers only, the
    rows are the stocks' snapshots (stocks/cached.py), so a screen never outlives its stocks' invalidation."""
    named = json.dumps({"arguments": arguments, "after": after}, sort_keys=True, default=str)
    return f"{SCREENS}:{hashlib.sha256(named.encode()).hexdigest()[:32]}"


def stock_keys_glob(ticker=None):
    """The glob (after the alias's prefix) of one stock's keys, or of every stock key."""
    return f"{FAMILY}:{normalize_ticker(ticker)}:*" if ticker is not None else f"{FAMILY}:*"


def ticker_of_key(key):
    """The ticker a stock key (without the alias's prefix) belongs to, or None for another key."""
    family, _, rest = key.partition(":")
    ticker = rest.partition(":")[0]
    return ticker if family == FAMILY and ticker else None


def _part(value):
    text = value.isoformat() if isinstance(value, datetime.date) else str(value)
    if ":" in text or not text:
        raise ValueError(f"a stock key part can't be empty or contain ':' ({text!r})")
    return text
