"""The scanner API's endpoints: each reads its parameters, asks the domain, and answers."""

from decimal import Decimal

from django.core.serializers.json import DjangoJSONEncoder
from django.http import JsonResponse
from django.utils import timezone
from ninja import Query, Router

from stocks import cached, rate_limits
from stocks.api import schemas
from stocks.api.parameters import BarsQuery, MoversQuery, ScreenQuery, refuse_unknown, ticker_of, write_cursor
from stocks.models import DailyBar, Stock
from stocks.querysets import PUBLIC_COLUMNS

router = Router(tags=["scanner"])
# Any call may be refused: bad credentials, a token of another API, over its limit, a dependency out.
REFUSED = {401: schemas.Error, 403: schemas.Error, 429: schemas.Error, 503: schemas.Error}
NOT_FOUND = {404: schemas.Error}
BAD = {400: schemas.Error}


class StockNotFound(Exception):
    """No listed stock has this ticker (site.py answers 404)."""


class NoBars(Exception):
    """The day asked for has no bars, or none before it to compare with (site.py answers 404)."""


class MarketJSONEncoder(DjangoJSONEncoder):
    """Prices and ratios as JSON numbers, as the schemas describe them (Django's encoder makes them strings)."""

    def default(self, value):
        return float(value) if isinstance(value, Decimal) else super().default(value)


@router.get("/stocks/", response={200: schemas.ScreenPage, **BAD, **REFUSED}, url_name="screen")
def screen(request, query: Query[ScreenQuery]):
    """The screen: listed stocks within the given ranges and sectors, ranked, a page at a time.

    The page is answered as it is, not passed through its schema: checking each of up to 500 rows
    cost more than the rest of a cached answer. The schema still describes it, and the fuzz test
    holds every answer to it.
    """
    refuse_unknown(request, ScreenQuery)
    arguments, after, columns = query.screen_arguments(), query.after(), query.columns()

    def load():
        rows = list(Stock.objects.screen(**arguments, after=after).values(*PUBLIC_COLUMNS))
        full = len(rows) == arguments["limit"]
        return rows, write_cursor(query.order, rows[-1]) if full else None

    rows, next_cursor = cached.screen(arguments, after, load)
    page = {"results": [{name: row[name] for name in columns} for row in rows], "next_cursor": next_cursor}
    return JsonResponse(page, encoder=MarketJSONEncoder)


@router.get("/stocks/{ticker}/", response={200: schemas.Stock, **BAD, **NOT_FOUND, **REFUSED}, url_name="stock")
def stock(request, ticker: str):
    """One listed stock: everything the scanner knows of it."""
    refuse_unknown(request)
    return _snapshot(ticker)


@router.get(
    "/stocks/{ticker}/bars/", response={200: schemas.BarHistory, **BAD, **NOT_FOUND, **REFUSED}, url_name="bars"
)
def bars(request, ticker: str, query: Query[BarsQuery]):
    """One stock's daily bars between two days, oldest first."""
    refuse_unknown(request, BarsQuery)
    start, end = query.window(timezone.localdate())
    listed = _snapshot(ticker)["ticker"]
    return {"ticker": listed, "start": start, "end": end, "bars": cached.bars(listed, start, end)}


@router.get("/movers/", response={200: schemas.Movers, **BAD, **NOT_FOUND, **REFUSED}, url_name="movers")
def movers(request, query: Query[MoversQuery]):
    """The biggest gainers or losers: live, or of a past trading day from its bars."""
    refuse_unknown(request, MoversQuery)
    if query.date is None:
        live = Stock.objects.top_movers(direction=query.direction, limit=query.limit)
        results = [
            {
                "ticker": row["ticker"],
                "name": row["name"],
                "price": row["last_price"],
                "previous_close": None,
                "change_percent": row["change_percent"],
            }
            for row in live.values("ticker", "name", "last_price", "change_percent")
        ]
        return {"date": None, "previous_date": None, "direction": query.direction, "results": results}
    if not DailyBar.objects.filter(date=query.date).exists():
        raise NoBars(f"no daily bars on {query.date}")
    previous = DailyBar.objects.previous_trading_day(query.date)
    if previous is None:
        raise NoBars(f"no trading day before {query.date} to compare with")
    day = DailyBar.objects.movers_on(query.date, previous, direction=query.direction, limit=query.limit)
    results = [
        {
            "ticker": row["stock__ticker"],
            "name": row["stock__name"],
            "price": row["close"],
            "previous_close": row["previous_close"],
            "change_percent": round(row["change_percent"], 4),
        }
        for row in day
    ]
    return {"date": query.date, "previous_date": previous, "direction": query.direction, "results": results}


@router.get("/usage/", response={200: schemas.Usage, **BAD, **REFUSED}, exclude_unset=True, url_name="usage")
def usage(request):
    """Your tier, its limits and what is left of them now. Asking does not count."""
    refuse_unknown(request)
    return rate_limits.peek(request.scanner_identity).as_json()


def _snapshot(ticker):
    canonical = ticker_of(ticker)
    snapshot = cached.stock_snapshot(canonical) if canonical else None
    if snapshot is None:
        raise StockNotFound(ticker)
    return snapshot
