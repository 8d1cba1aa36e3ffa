"""Invalidating cached stock data: every entry of the given stocks, and nothing else (see stocks/cache_keys.py)."""

from dataclasses import dataclass

from opsadmin.operations.caches.clearing import delete_matching
from opsadmin.spine import humanize
from opsadmin.spine.results import Report
from stocks.cache_keys import STOCK_CACHE_ALIAS, stock_keys_glob, ticker_of_key
from stocks.tickers import normalize_ticker


@dataclass(kw_only=True)
class InvalidateReport(Report):
    tickers: list[str]
    entries_removed: int


def invalidate_stocks(tickers):
    """Delete the cached entries of `tickers` (all kinds) from the stock cache.

    One scoped SCAN pass whatever the number of tickers: the glob names the one stock when
    there is one, else every stock key, and the tickers are picked out of the keys it finds.
    Raises OperationFailed when the cache's Redis doesn't answer.
    """
    wanted = list(dict.fromkeys(normalize_ticker(ticker) for ticker in tickers))
    removed = 0
    if wanted:
        glob = stock_keys_glob(wanted[0]) if len(wanted) == 1 else stock_keys_glob()
        chosen = set(wanted)
        removed = delete_matching(STOCK_CACHE_ALIAS, glob, select=lambda key: ticker_of_key(key) in chosen).keys_deleted
    shown = ", ".join(wanted[:10]) + (f" and {len(wanted) - 10} more" if len(wanted) > 10 else "")
    return InvalidateReport(
        tickers=wanted,
        entries_removed=removed,
        summary=f"Removed {humanize.plural(removed, 'cached entry', 'cached entries')} of {shown}.",
    )
