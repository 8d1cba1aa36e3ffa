"""The scanner's query shapes, one method each.

Every method here is a shape that a performance index in migration 0003 serves; the
index comments in models.py name the method. Keep the two in step: a new shape
either reuses an index (say which) or brings its own.
"""

from django.db import models

# Columns a list of stocks shows; list_rows() loads nothing else.
LIST_COLUMNS = ("ticker", "name", "exchange", "sector", "last_price", "change_percent", "volume", "market_cap")

# Orderings a screen may ask for; ticker breaks ties so pages are stable.
SCREEN_ORDERINGS = frozenset(
    prefix + field
    for field in ("ticker", "market_cap", "volume", "change_percent", "last_price")
    for prefix in ("", "-")
)
MAX_SCREEN_LIMIT = 500


class StockQuerySet(models.QuerySet):
    def active(self):
        """Stocks that are listed and traded: the base of every scanner query."""
        return self.filter(is_active=True)

    def list_rows(self):
        """Only the columns a list shows, in ticker order."""
        return self.active().only(*LIST_COLUMNS).order_by("ticker")

    def screen(
        self,
        *,
        min_price=None,
        max_price=None,
        min_volume=None,
        min_change=None,
        max_change=None,
        sectors=None,
        min_market_cap=None,
        max_market_cap=None,
        order_by="-market_cap",
        limit=50,
    ):
        """The screener: optional ranges and sectors, one ordering, a bounded limit.

        Served by `stock_sector_cap_idx` when sectors are given and by
        `stock_active_volume_idx` when ordering by volume.
        """
        if order_by not in SCREEN_ORDERINGS:
            raise ValueError(f"cannot order a screen by {order_by!r}; choose from {sorted(SCREEN_ORDERINGS)}")
        if not 1 <= limit <= MAX_SCREEN_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_SCREEN_LIMIT}, not {limit}")
        ranges = {
            "last_price__gte": min_price,
            "last_price__lte": max_price,
            "volume__gte": min_volume,
            "change_percent__gte": min_change,
            "change_percent__lte": max_change,
            "market_cap__gte": min_market_cap,
            "market_cap__lte": max_market_cap,
        }
        queryset = self.active().filter(**{lookup: value for lookup, value in ranges.items() if value is not None})
        if sectors:
            queryset = queryset.filter(sector__in=list(sectors))
        field = order_by.lstrip("-")
        if field == "ticker":
            return queryset.order_by(order_by)[:limit]
        # A stock whose ranking value is unknown cannot be ranked; leaving it out
        # also lets the plain DESC indexes serve the ordering.
        return queryset.exclude(**{f"{field}__isnull": True}).order_by(order_by, "ticker")[:limit]

    def top_movers(self, *, limit=10, direction="up"):
        """The day's biggest gainers (`up`) or losers (`down`); `stock_movers_idx`."""
        if direction not in ("up", "down"):
            raise ValueError(f"direction must be 'up' or 'down', not {direction!r}")
        ordering = "-change_percent" if direction == "up" else "change_percent"
        return self.active().exclude(change_percent=None).order_by(ordering, "ticker")[:limit]

    def export_rows(self, chunk_size=2000):
        """Every active stock for an export, fetched `chunk_size` rows at a time.

        On PostgreSQL this is a server-side cursor, so memory stays flat whatever
        the table size.
        """
        return self.active().order_by("ticker").iterator(chunk_size=chunk_size)


class OptimizedStockManager(models.Manager.from_queryset(StockQuerySet)):
    """`Stock.objects`: the query shapes above, available on the manager."""


class DailyBarQuerySet(models.QuerySet):
    def between(self, stock, start, end):
        """One stock's daily bars from `start` to `end` inclusive, oldest first; `dailybar_stock_date_idx`."""
        return self.filter(stock=stock, date__range=(start, end)).order_by("date")
