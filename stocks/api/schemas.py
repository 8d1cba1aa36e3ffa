"""The scanner API's answers, as its OpenAPI description shows them.

Prices and ratios are JSON numbers (4 decimals at most, as stored); a value the market has not
given yet is null. A screen row carries only the fields asked for, so its fields are optional.
"""

import datetime

from ninja import Schema
from pydantic import Field


class StockRow(Schema):
    ticker: str
    name: str | None = None
    exchange: str | None = None
    sector: str | None = None
    industry: str | None = None
    currency: str | None = None
    last_price: float | None = None
    change_percent: float | None = Field(None, description="Change since the previous close, in %.")
    volume: int | None = None
    avg_volume_30d: int | None = None
    market_cap: int | None = None
    pe_ratio: float | None = None
    dividend_yield: float | None = Field(None, description="In %.")
    week_52_high: float | None = None
    week_52_low: float | None = None


class ScreenPage(Schema):
    results: list[StockRow]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class Stock(Schema):
    ticker: str
    name: str
    exchange: str
    sector: str
    industry: str
    currency: str
    last_price: float | None
    change_percent: float | None
    volume: int | None
    avg_volume_30d: int | None
    market_cap: int | None
    pe_ratio: float | None
    dividend_yield: float | None
    week_52_high: float | None
    week_52_low: float | None


class Bar(Schema):
    date: datetime.date
    open: float
    high: float
    low: float
    close: float
    volume: int


class BarHistory(Schema):
    ticker: str
    start: datetime.date
    end: datetime.date
    bars: list[Bar]


class Mover(Schema):
    ticker: str
    name: str
    price: float | None = Field(description="The last price, or the day's close for a past day.")
    previous_close: float | None = Field(description="Null for the live movers: the change is the exchange's.")
    change_percent: float


class Movers(Schema):
    date: datetime.date | None = Field(description="The trading day; null for the live prices.")
    previous_date: datetime.date | None = Field(description="The trading day compared with; null for live prices.")
    direction: str
    results: list[Mover]


class Windows(Schema):
    minute: int
    day: int


class Usage(Schema):
    tier: str
    limits: Windows
    remaining: Windows
    enforced: bool = Field(True, description="Only there, false, while the limits' storage is out: nothing is counted.")


class Error(Schema):
    error: str
    fields: dict[str, list[str]] | None = Field(None, description="Each bad parameter, with what is wrong with it.")
