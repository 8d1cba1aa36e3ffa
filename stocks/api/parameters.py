"""What the scanner API accepts, checked before any query runs.

Each bad parameter is named with what is wrong with it: the types and ranges by pydantic, the
rules between parameters (a minimum above its maximum, a cursor of another ordering) here, all
answered alike by site.py as a 400.
"""

import base64
import binascii
import datetime
import json
from decimal import Decimal
from typing import Annotated, Literal

from django.core.exceptions import ValidationError
from ninja import Schema
from pydantic import Field

from stocks.querysets import MAX_SCREEN_LIMIT, PUBLIC_COLUMNS, SCREEN_ORDERINGS
from stocks.tickers import normalize_ticker

MAX_BARS_DAYS = 3660  # ten years of calendar days in one answer
DEFAULT_BARS_DAYS = 365
DEFAULT_BARS_SPAN = datetime.timedelta(days=DEFAULT_BARS_DAYS)
MAX_MOVERS = 100

# Bounds that keep every value inside its column's range (stocks/models.py), so a query never fails.
Price = Annotated[Decimal, Field(ge=0, le=Decimal("9999999999"), decimal_places=4, allow_inf_nan=False)]
Percent = Annotated[Decimal, Field(ge=-(10**7), le=10**7, decimal_places=4, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0, le=10**18)]
Ordering = Literal[tuple(sorted(SCREEN_ORDERINGS))]
Column = Literal[PUBLIC_COLUMNS]
DECIMAL_ORDERINGS = ("last_price", "change_percent")
RANGES = (("min_price", "max_price"), ("min_change", "max_change"), ("min_market_cap", "max_market_cap"))


class BadParameters(Exception):
    """Parameters that passed their types but not the rules between them: {parameter: [what is wrong]}."""

    def __init__(self, fields):
        super().__init__(", ".join(fields))
        self.fields = fields


class ScreenQuery(Schema):
    min_price: Price | None = Field(None, description="Last price at least this, in the stock's currency.")
    max_price: Price | None = Field(None, description="Last price at most this.")
    min_volume: Count | None = Field(None, description="Shares traded today, at least.")
    min_change: Percent | None = Field(None, description="Change since the previous close at least this, in %.")
    max_change: Percent | None = Field(None, description="Change since the previous close at most this, in %.")
    min_market_cap: Count | None = Field(None, description="Market capitalisation at least this.")
    max_market_cap: Count | None = Field(None, description="Market capitalisation at most this.")
    sector: list[Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]] = Field(
        [], max_length=50, description="Only these sectors; repeat the parameter for more than one."
    )
    order: Ordering = Field("-market_cap", description="The field to rank by; a leading '-' ranks high to low.")
    limit: int = Field(50, ge=1, le=MAX_SCREEN_LIMIT, description="Rows in a page.")
    cursor: str | None = Field(None, max_length=500, description="`next_cursor` of the previous page.")
    fields: list[Column] = Field(
        [],
        max_length=len(PUBLIC_COLUMNS),
        description="Only these fields in each row (ticker always comes); repeat "
        "the parameter for more than one; default all.",
    )

    def columns(self):
        """The row's fields, ticker first."""
        return ("ticker", *(name for name in dict.fromkeys(self.fields or PUBLIC_COLUMNS) if name != "ticker"))

    def screen_arguments(self):
        """The keyword arguments of StockQuerySet.screen(), the rules between parameters checked."""
        problems = {}
        for low, high in RANGES:
            least, most = getattr(self, low), getattr(self, high)
            if least is not None and most is not None and least > most:
                problems[low] = [f"{low} is above {high}"]
        if problems:
            raise BadParameters(problems)
        return {
            "min_price": self.min_price,
            "max_price": self.max_price,
            "min_volume": self.min_volume,
            "min_change": self.min_change,
            "max_change": self.max_change,
            "min_market_cap": self.min_market_cap,
            "max_market_cap": self.max_market_cap,
            "sectors": sorted(set(self.sector)) or None,
            "order_by": self.order,
            "limit": self.limit,
        }

    def after(self):
        """Where the page starts: the (value, ticker) the cursor carries, or None for the first page."""
        return read_cursor(self.cursor, self.order) if self.cursor else None


class BarsQuery(Schema):
    start: datetime.date | None = Field(None, description=f"First day; default {DEFAULT_BARS_DAYS} days before end.")
    end: datetime.date | None = Field(None, description="Last day; default today.")

    def window(self, today):
        """(start, end), at most MAX_BARS_DAYS apart and in order."""
        end = self.end or today
        start = self.start or max(end, datetime.date.min + DEFAULT_BARS_SPAN) - DEFAULT_BARS_SPAN
        if start > end:
            raise BadParameters({"start": ["start is after end"]})
        if (end - start).days > MAX_BARS_DAYS:
            raise BadParameters({"start": [f"at most {MAX_BARS_DAYS:,} days from start to end"]})
        return start, end


class MoversQuery(Schema):
    date: datetime.date | None = Field(
        None, description="A trading day: its close against the previous trading day's; default the live prices."
    )
    direction: Literal["up", "down"] = Field("up", description="Gainers (up) or losers (down).")
    limit: int = Field(10, ge=1, le=MAX_MOVERS)


def refuse_unknown(request, schema=None):
    """BadParameters for query parameters `schema` doesn't have: a misspelt filter (`minprice`) would
    otherwise be ignored silently, and the answer look right."""
    known = schema.model_fields if schema else {}
    if unknown := [name for name in request.GET if name not in known]:
        raise BadParameters({name[:50]: ["unknown parameter"] for name in unknown[:20]})


def ticker_of(raw):
    """The canonical ticker, or None when `raw` can't be one (the stock then is simply not found)."""
    try:
        return normalize_ticker(raw)
    except ValidationError:
        return None


def write_cursor(order, row):
    """An opaque cursor to the page after `row`, valid for `order` only."""
    value = row[order.lstrip("-")]
    payload = json.dumps([order, None if value is None else str(value), row["ticker"]], separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def read_cursor(cursor, order):
    """(value, ticker) from a cursor of write_cursor(), or BadParameters."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        cursor_order, value, ticker = json.loads(base64.urlsafe_b64decode(padded.encode()))
        ticker = normalize_ticker(ticker)
        field = order.lstrip("-")
        if field in DECIMAL_ORDERINGS:
            value = Decimal(value)
            if not value.is_finite():
                raise ValueError(value)
        elif field != "ticker":
            value = int(value)
    except (ValueError, TypeError, AttributeError, binascii.Error, ArithmeticError, ValidationError):
        raise BadParameters({"cursor": ["not a cursor this API gave"]}) from None
    if cursor_order != order:
        raise BadParameters({"cursor": [f"the cursor continues a screen ordered by {cursor_order}, not {order}"]})
    return value, ticker
