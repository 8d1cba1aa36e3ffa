"""Cached reads of stock data for the scanner, under the keys of stocks/cache_keys.py.

The cache is an accelerator, never a dependency: when it fails, the read comes from the
database (the portal answers from the database without Redis, see the design).
"""

import logging

import redis
from django.conf import settings
from django.core.cache import caches

from stocks.cache_keys import STOCK_CACHE_ALIAS, stock_snapshot_key
from stocks.models import Stock
from stocks.querysets import LIST_COLUMNS
from stocks.tickers import normalize_ticker

logger = logging.getLogger(__name__)

_MISSING = object()

try:
    from django_redis.exceptions import ConnectionInterrupted
except ImportError:  # pragma: no cover - django-redis is in requirements.txt
    ConnectionInterrupted = redis.RedisError
CACHE_ERRORS = (redis.RedisError, ConnectionInterrupted, OSError)


def stock_snapshot(ticker):
    """The stock's list columns as a dict (None for an unknown or delisted stock), cached for
    PORTAL_STOCK_CACHE_SECONDS (default 60). Misses aren't cached: a new listing shows at once."""
    ticker = normalize_ticker(ticker)
    cache, key = caches[STOCK_CACHE_ALIAS], stock_snapshot_key(ticker)
    snapshot = _cache_call(cache.get, key, _MISSING)
    if snapshot is not _MISSING and snapshot is not None:
        return snapshot
    snapshot = Stock.objects.active().filter(ticker=ticker).values(*LIST_COLUMNS).first()
    if snapshot is not None:
        seconds = settings.PORTAL_STOCK_CACHE_SECONDS
        _cache_call(cache.set, key, snapshot, seconds)
    return snapshot


def _cache_call(method, *args):
    try:
        return method(*args)
    except CACHE_ERRORS as error:
        logger.warning("stock cache %s failed: %s", method.__name__, error)
        return _MISSING
