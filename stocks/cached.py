"""Cached reads of stock data for the scanner, under the keys of stocks/cache_keys.py.

The cache is an accelerator, never a dependency: when it fails, the read comes from the
database (the portal answers from the database without Redis, see the design).
A screen is cached as the tickers of its page, for PORTAL_SCREEN_CACHE_SECONDS, and its
rows as each stock's snapshot: invalidating a stock's entries (the Caches page) refreshes
that stock in every cached screen at once.
"""

import logging

import redis
from django.conf import settings
from django.core.cache import caches

from stocks.cache_keys import STOCK_CACHE_ALIAS, screen_key, stock_bars_key, stock_snapshot_key
from stocks.models import DailyBar, Stock
from stocks.querysets import PUBLIC_COLUMNS
from stocks.tickers import normalize_ticker

logger = logging.getLogger(__name__)

_MISSING = object()

try:
    from django_redis.exceptions import ConnectionInterrupted
except ImportError:  # pragma: no cover - django-redis is in requirements.txt
    ConnectionInterrupted = redis.RedisError
CACHE_ERRORS = (redis.RedisError, ConnectionInterrupted, OSError)
BAR_COLUMNS = ("date", "open", "high", "low", "close", "volume")


def stock_snapshot(ticker):
    """The stock's public columns as a dict (None for an unknown or delisted stock), cached for
    PORTAL_STOCK_CACHE_SECONDS (default 60). Misses aren't cached: a new listing shows at once."""
    ticker = normalize_ticker(ticker)
    return stock_snapshots([ticker]).get(ticker)


def stock_snapshots(tickers):
    """{ticker: snapshot} of the listed ones among `tickers` (canonical): one cache round trip for all,
    one query for those the cache lacks."""
    cache = caches[STOCK_CACHE_ALIAS]
    keys = {stock_snapshot_key(ticker): ticker for ticker in tickers}
    cached = _cache_call(cache.get_many, list(keys))
    found = {keys[key]: row for key, row in cached.items() if row is not None} if cached is not _MISSING else {}
    if missing := [ticker for ticker in tickers if ticker not in found]:
        listed = Stock.objects.active().filter(ticker__in=missing).values(*PUBLIC_COLUMNS)
        loaded = {row["ticker"]: row for row in listed}
        if loaded:
            fresh = {stock_snapshot_key(ticker): row for ticker, row in loaded.items()}
            _cache_call(cache.set_many, fresh, settings.PORTAL_STOCK_CACHE_SECONDS)
        found.update(loaded)
    return found


def screen(arguments, after, load):
    """The rows of one screen page, and the (value, ticker) to continue after, or None on the last page.

    `load()` runs the query (stocks.querysets.StockQuerySet.screen) on a miss; `arguments` and
    `after` name the page in the cache.
    """
    cache, key = caches[STOCK_CACHE_ALIAS], screen_key(arguments, after)
    page = _cache_call(cache.get, key, _MISSING)
    if page is not _MISSING and page is not None:
        tickers, following = page
        rows = stock_snapshots(tickers)
        if len(rows) == len(tickers):  # else a stock was delisted since: ask the database again
            return [rows[ticker] for ticker in tickers], following
    rows, following = load()
    _cache_call(cache.set, key, ([row["ticker"] for row in rows], following), settings.PORTAL_SCREEN_CACHE_SECONDS)
    snapshots = {stock_snapshot_key(row["ticker"]): row for row in rows}
    _cache_call(cache.set_many, snapshots, settings.PORTAL_STOCK_CACHE_SECONDS)
    return rows, following


def bars(ticker, start, end):
    """The listed stock's daily bars from `start` to `end` as dicts, oldest first, cached like its snapshot."""
    cache, key = caches[STOCK_CACHE_ALIAS], stock_bars_key(ticker, start, end)
    found = _cache_call(cache.get, key, _MISSING)
    if found is not _MISSING and found is not None:
        return found
    stock = Stock.objects.active().filter(ticker=ticker).values_list("id", flat=True).first()
    rows = list(DailyBar.objects.between(stock, start, end).values(*BAR_COLUMNS)) if stock else []
    _cache_call(cache.set, key, rows, settings.PORTAL_STOCK_CACHE_SECONDS)
    return rows


def _cache_call(method, *args):
    try:
        return method(*args)
    except CACHE_ERRORS as error:
        logger.warning("stock cache %s failed: %s", method.__name__, error)
        return _MISSING
