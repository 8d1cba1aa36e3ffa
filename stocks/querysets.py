"""The scanner's query shapes, one method each.

Every method here is a shape that a performance index in migration 0003 serves; the
index comments in models.py name the method. Keep the two in step: a new shape
either reuses an index (say which) or brings its own.
"""

from django.db import models

# Columns a list of stocks shows; list_rows() loads nothing else.
LIST_COLUMNS = ("ticker", "name", "exchange", "sector", "last_price", "change_percent", "volume", "market_cap")
# Everything the scanner API tells about a stock (its rows and its cached snapshot).
PUBLIC_COLUMNS = (
    *LIST_COLUMNS,
    "industry",
    "currency",
    "avg_volume_30d",
    "pe_ratio",
    "dividend_yield",
    "week_52_high",
    "week_52_low",
)

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
        after=None,
    ):
        """The screener: optional ranges and sectors, one ordering, a bounded limit.

        `after` is the (value, ticker) of the last row of the previous page: the page goes on
        from there (keyset pagination), so a deep page costs what the first one does.
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
        beyond = "lt" if order_by.startswith("-") else "gt"
        if field == "ticker":
            if after is not None:
                queryset = queryset.filter(**{f"ticker__{beyond}": after[1]})
            return queryset.order_by(order_by)[:limit]
        if after is not None:
            value, ticker = after
            queryset = queryset.filter(
                models.Q(**{f"{field}__{beyond}": value}) | models.Q(**{field: value, "ticker__gt": ticker})
            )
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

    def previous_trading_day(self, date):
        """The last date before `date` with any bar, or None; a backward step on the unique (date, stock) index."""
        return self.filter(date__lt=date).order_by("-date").values_list("date", flat=True).first()

    def movers_on(self, date, previous, *, direction="up", limit=10):
        """The active stocks that moved most from `previous`'s close to `date`'s, in %: each bar of
        `date` finds its stock's bar of `previous` on the unique (date, stock) index."""
        if direction not in ("up", "down"):
            raise ValueError(f"direction must be 'up' or 'down', not {direction!r}")
        previous_close = self.filter(stock=models.OuterRef("stock"), date=previous).values("close")[:1]
        change = models.ExpressionWrapper(
            (models.F("close") - models.F("previous_close")) * 100 / models.F("previous_close"),
            output_field=models.DecimalField(),
        )
        ordering = "-change_percent" if direction == "up" else "change_percent"
        return (
            self.filter(date=date, stock__is_active=True)
            .annotate(previous_close=models.Subquery(previous_close))
            .exclude(previous_close=None)
            .exclude(previous_close=0)
            .annotate(change_percent=change)
            .order_by(ordering, "stock__ticker")
            .values("stock__ticker", "stock__name", "close", "previous_close", "change_percent")[:limit]
        )
