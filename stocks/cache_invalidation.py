"""Invalidating cached stock data: every entry of the given stocks, and nothing else (see stocks/cache_keys.py)."""

from opsadmin.operations.caches.clearing import delete_matching
from stocks.cache_keys import STOCK_CACHE_ALIAS, stock_keys_glob, ticker_of_key
from stocks.tickers import normalize_ticker


def invalidate_stocks(tickers):
    """Delete the cached entries of `tickers` (all kinds) from the stock cache; returns how many were removed.

    One scoped SCAN pass whatever the number of tickers: the glob names the one stock when
    there is one, else every stock key, and the tickers are picked out of the keys it finds.
    Raises OperationFailed when the cache's Redis doesn't answer.
    """
    wanted = {normalize_ticker(ticker) for ticker in tickers}
    if not wanted:
        return 0
    glob = stock_keys_glob(next(iter(wanted))) if len(wanted) == 1 else stock_keys_glob()
    report = delete_matching(STOCK_CACHE_ALIAS, glob, select=lambda key: ticker_of_key(key) in wanted)
    return report.keys_deleted
