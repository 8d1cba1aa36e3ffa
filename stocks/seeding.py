"""Synthetic stocks and daily bars for demos, tests and benchmarks: deterministic and fast.

The same (stocks, days, seed, end date) always gives the same rows, on any machine and
any day, so a demo, a bug report and a benchmark can name their dataset by its
arguments. Prices are random walks kept in integer ten-thousandths ("ticks"): every bar
is exact at the columns' 4 decimal places, and a stock's derived fields (last price,
change, volumes, 52-week range) agree with its bars to the last digit.

Stocks are made in groups of about 100,000 bars, so memory holds one group whatever the
size of the run: the group's random walks, then its Stock rows (whose derived fields
need the walks), then its bars. On PostgreSQL the bars go through COPY, fed by a
generator so the server parses rows while Python formats the next; elsewhere through
executemany() in batches.
"""

import contextlib
import itertools
import math
import random
import string
import time
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import psycopg2.extensions
from django import forms
from django.db import connection, transaction

from stocks.models import DailyBar, Stock

DEFAULT_END_DATE = date(2026, 11, 27)  # a fixed anchor, never today: the output must not depend on when it runs
TICKS = 10_000  # prices are integers in ten-thousandths: the columns' 4 decimal places
PERCENT_PLACES = Decimal("0.0001")
INSERT_BATCH = 5_000  # bars per executemany() where there is no COPY
BARS_PER_GROUP = 100_000  # bars generated, then written, at a time
COPY_READ_SIZE = 1 << 16  # bytes psycopg2 asks the stream for at a time

# Ticker space: 1-3 letters as on the NYSE, 4 letters as on NASDAQ.
SHORT_TICKERS = 26 + 26**2 + 26**3
LONG_TICKERS = 26**4
MAX_STOCKS = SHORT_TICKERS + LONG_TICKERS
SHORT_SHARE = 0.4  # share of listings with 1-3 letter tickers, while they last

INACTIVE_SHARE = 0.03
NO_PE_SHARE = 0.2  # loss-making companies: no P/E
NO_DIVIDEND_SHARE = 0.4
MEAN_REVERSION = 0.002  # pull of the log price towards its start: keeps long walks in a plausible range
WEEK_52 = timedelta(weeks=52)
AVERAGE_VOLUME_DAYS = 30


@dataclass(frozen=True)
class Sector:
    name: str
    industries: tuple[str, ...]
    name_words: tuple[str, ...]  # what companies in the sector call themselves
    volatility: float  # typical daily return standard deviation


SECTORS = (
    Sector(
        "Information Technology",
        ("Software", "Semiconductors", "IT Services", "Technology Hardware", "Electronic Components"),
        ("Systems", "Software", "Technologies", "Micro", "Data", "Networks"),
        0.024,
    ),
    Sector(
        "Health Care",
        ("Biotechnology", "Pharmaceuticals", "Medical Devices", "Health Care Providers", "Life Sciences Tools"),
        ("Therapeutics", "Biosciences", "Pharma", "Medical", "Health", "Genomics"),
        0.026,
    ),
    Sector(
        "Financials",
        ("Banks", "Insurance", "Capital Markets", "Consumer Finance", "Asset Management"),
        ("Bancorp", "Financial", "Capital", "Trust", "Insurance", "Partners"),
        0.016,
    ),
    Sector(
        "Consumer Discretionary",
        ("Automobiles", "Specialty Retail", "Hotels & Leisure", "Household Durables", "Apparel"),
        ("Brands", "Motors", "Retail", "Resorts", "Outfitters", "Home"),
        0.022,
    ),
    Sector(
        "Communication Services",
        ("Interactive Media", "Telecom Services", "Entertainment", "Publishing", "Advertising"),
        ("Media", "Communications", "Telecom", "Studios", "Broadcasting", "Interactive"),
        0.020,
    ),
    Sector(
        "Industrials",
        ("Aerospace & Defense", "Machinery", "Airlines", "Construction & Engineering", "Freight & Logistics"),
        ("Industries", "Aerospace", "Machinery", "Logistics", "Engineering", "Rail"),
        0.018,
    ),
    Sector(
        "Consumer Staples",
        ("Food Products", "Beverages", "Household Products", "Food Retail", "Personal Care"),
        ("Foods", "Beverages", "Farms", "Consumer Products", "Grocers", "Kitchens"),
        0.012,
    ),
    Sector(
        "Energy",
        ("Oil & Gas Exploration", "Oil & Gas Refining", "Energy Equipment", "Pipelines", "Coal"),
        ("Energy", "Petroleum", "Resources", "Drilling", "Midstream", "Oil"),
        0.025,
    ),
    Sector(
        "Utilities",
        ("Electric Utilities", "Gas Utilities", "Water Utilities", "Renewable Power", "Multi-Utilities"),
        ("Power", "Electric", "Utilities", "Water", "Gas", "Renewables"),
        0.011,
    ),
    Sector(
        "Real Estate",
        ("Office REITs", "Residential REITs", "Industrial REITs", "Retail REITs", "Real Estate Services"),
        ("Realty", "Properties", "REIT", "Land", "Residential", "Estates"),
        0.015,
    ),
    Sector(
        "Materials",
        ("Chemicals", "Metals & Mining", "Construction Materials", "Paper & Forest Products", "Packaging"),
        ("Chemicals", "Minerals", "Materials", "Steel", "Mining", "Packaging"),
        0.021,
    ),
)
NAME_STARTS = (
    "North", "South", "East", "West", "Blue", "Red", "Green", "Silver", "Golden", "Iron", "Bright", "Clear",
    "High", "Stone", "River", "Summit", "Pioneer", "Liberty", "Atlas", "Harbor", "Granite", "Cedar", "Pacific",
    "Crescent", "Evergreen", "Frontier", "Keystone", "Meridian", "Sterling", "Vantage",
)  # fmt: skip
NAME_ENDS = ("", "wood", "field", "gate", "point", "ridge", "line", "bridge", "view", "stone", "wave", "star")
LEGAL_FORMS = ("Inc.", "Corp.", "Holdings", "Group", "Co.", "Ltd.", "plc", "Incorporated")
# Exchanges by ticker length, with how often each occurs.
SHORT_EXCHANGES = (("NYSE", 0.85), ("NYSE American", 0.10), ("NYSE Arca", 0.05))
LONG_EXCHANGES = (("NASDAQ", 0.95), ("Cboe BZX", 0.05))


class SeedRefused(Exception):
    """The database already has stocks and the caller chose neither --replace nor --if-empty."""


class SeedForm(forms.Form):
    """The arguments of a seeding run, validated the same way whichever door they came through."""

    stocks = forms.IntegerField(
        min_value=1,
        max_value=MAX_STOCKS,
        error_messages={"max_value": "There are only %(limit_value)s tickers of 1 to 4 letters to go round."},
    )
    days = forms.IntegerField(min_value=1)
    seed = forms.IntegerField(min_value=0)  # random.Random treats -n like n: negative seeds would repeat datasets
    end_date = forms.DateField(required=False, input_formats=["%Y-%m-%d"])
    if_empty = forms.BooleanField(required=False)
    replace = forms.BooleanField(required=False)

    def clean_end_date(self):
        return self.cleaned_data["end_date"] or DEFAULT_END_DATE

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("if_empty") and cleaned.get("replace"):
            raise forms.ValidationError("--if-empty and --replace contradict each other: choose one.")
        if cleaned.get("days") and cleaned.get("end_date"):
            try:
                trading_days(cleaned["end_date"], cleaned["days"])
            except OverflowError:
                self.add_error(
                    "days", f"{cleaned['days']:,} weekdays ending on {cleaned['end_date']} would start before year 1."
                )
        return cleaned


@dataclass
class SeedReport:
    database: str
    method: str = ""  # how the bars went in: "copy" or "insert"
    stocks: int = 0  # written by this run
    bars: int = 0
    start_date: date | None = None
    end_date: date | None = None
    seconds: float = 0.0  # walking and writing, ANALYZE included; the deletion of --replace is not
    bars_per_second: float = 0.0
    existing_stocks: int = 0  # found before the run
    replaced: bool = False
    skipped: bool = False  # --if-empty found stocks and did nothing

    def to_dict(self):
        data = asdict(self)
        data["start_date"] = self.start_date and self.start_date.isoformat()
        data["end_date"] = self.end_date and self.end_date.isoformat()
        return data


def seed_stocks(*, stocks, days, seed, end_date=DEFAULT_END_DATE, if_empty=False, replace=False):
    """Write `stocks` synthetic stocks with `days` daily bars each; arguments as validated by SeedForm.

    Refuses (SeedRefused) when stocks exist, unless `replace` (delete them and their bars
    first, in the same transaction) or `if_empty` (do nothing, report skipped).
    """
    report = SeedReport(database=connection.vendor)
    with transaction.atomic():
        existing = report.existing_stocks = Stock.objects.count()
        if existing and if_empty:
            report.skipped = True
            return report
        if existing and not replace:
            raise SeedRefused(
                f"The database already has {existing:,} stocks. Pass --replace to delete them and their bars "
                "first, or --if-empty to leave them alone."
            )
        if existing:
            DailyBar.objects.all().delete()
            Stock.objects.all().delete()
            report.replaced = True
        started = time.perf_counter()
        dates = trading_days(end_date, days)
        rng = random.Random(seed)
        report.method = _write(make_listings(rng, stocks), rng, dates)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for model in (Stock, DailyBar):
                cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    report.stocks, report.bars = stocks, stocks * days
    report.start_date, report.end_date = dates[0], dates[-1]
    report.seconds = time.perf_counter() - started
    report.bars_per_second = report.bars / report.seconds
    return report


def _write(listings, rng, dates):
    """Walk, then write, the listings a group at a time; returns how the bars went in: "copy" or "insert".

    A group's walks stay in memory until its stocks (which need their summaries) and bars are written.
    """
    window = year_window(dates)
    days = [day.isoformat() for day in dates]
    copy = _can_copy()
    group_size = max(1, BARS_PER_GROUP // len(dates))
    for first in range(0, len(listings), group_size):
        group = listings[first : first + group_size]
        histories = [listing.walk(rng, len(dates)) for listing in group]
        saved = Stock.objects.bulk_create(
            listing.stock(history, window) for listing, history in zip(group, histories, strict=True)
        )
        (_copy_bars if copy else _insert_bars)([stock.pk for stock in saved], histories, days)
    return "copy" if copy else "insert"


def trading_days(end, count):
    """The `count` weekdays ending on the last weekday on or before `end`, oldest first.

    Raises OverflowError when they would start before year 1.
    """
    day = end - timedelta(days=max(0, end.weekday() - 4))
    days = [day]
    while len(days) < count:
        day -= timedelta(days=3 if day.weekday() == 0 else 1)
        days.append(day)
    days.reverse()
    return days


# --- The listings: who the synthetic stocks are -------------------------------------


@dataclass(frozen=True, slots=True)
class Listing:
    """One synthetic stock's fixed traits; its history comes from walk()."""

    ticker: str
    name: str
    exchange: str
    sector: Sector
    industry: str
    shares: int
    pe_ratio: Decimal | None
    dividend_yield: Decimal | None
    is_active: bool
    start_ticks: int
    base_volume: int

    def stock(self, history, window):
        """The Stock row; `window`: how many of the last bars fall in the 52 weeks."""
        return Stock(
            ticker=self.ticker,
            name=self.name,
            exchange=self.exchange,
            sector=self.sector.name,
            industry=self.industry,
            currency="USD",
            pe_ratio=self.pe_ratio,
            dividend_yield=self.dividend_yield,
            is_active=self.is_active,
            **self.summarize(history, window),
        )

    def walk(self, rng, days):
        """`days` bars as (open, high, low, close, volume) lists, prices in ticks.

        Log-normal steps with a weak pull back to the start price; the open gaps from the
        previous close; high and low reach past both; every price is at least one tick.
        """
        gauss, uniform = rng.gauss, rng.random
        volatility, gap, base_volume = self.sector.volatility, self.sector.volatility / 3, self.base_volume
        start_log = math.log(self.start_ticks)
        opens, highs, lows, closes, volumes = [], [], [], [], []
        previous = self.start_ticks
        for _ in range(days):
            step = gauss(0.0, volatility) - MEAN_REVERSION * (math.log(previous) - start_log)
            open_ = max(1, round(previous * (1.0 + gauss(0.0, gap))))
            close = max(1, round(previous * math.exp(step)))
            top, bottom = max(open_, close), min(open_, close)
            opens.append(open_)
            closes.append(close)
            highs.append(top + round(top * volatility * uniform()))
            lows.append(max(1, bottom - round(bottom * volatility * uniform())))
            volumes.append(int(base_volume * (0.5 + uniform()) * (1.0 + 10.0 * abs(step))))
            previous = close
        return opens, highs, lows, closes, volumes

    def summarize(self, history, window):
        """The Stock fields its bars decide."""
        _, highs, lows, closes, volumes = history
        recent = volumes[-AVERAGE_VOLUME_DAYS:]
        change = None
        if len(closes) > 1:
            change = (Decimal(closes[-1] - closes[-2]) * 100 / closes[-2]).quantize(PERCENT_PLACES, ROUND_HALF_EVEN)
        return {
            "last_price": _price(closes[-1]),
            "change_percent": change,
            "volume": volumes[-1],
            "avg_volume_30d": sum(recent) // len(recent),
            "week_52_high": _price(max(highs[-window:])),
            "week_52_low": _price(min(lows[-window:])),
            "market_cap": self.shares * closes[-1] // TICKS,
        }


def make_listings(rng, count):
    """`count` listings in ticker order, with unique tickers."""
    short = max(count - LONG_TICKERS, min(SHORT_TICKERS, round(count * SHORT_SHARE)))
    tickers = sorted(
        [_short_ticker(index) for index in rng.sample(range(SHORT_TICKERS), short)]
        + [_letters(index, 4) for index in rng.sample(range(LONG_TICKERS), count - short)]
    )
    return [_listing(rng, ticker) for ticker in tickers]


def _listing(rng, ticker):
    sector = rng.choice(SECTORS)
    exchanges = SHORT_EXCHANGES if len(ticker) <= 3 else LONG_EXCHANGES
    name = f"{rng.choice(NAME_STARTS)}{rng.choice(NAME_ENDS)} {rng.choice(sector.name_words)} {rng.choice(LEGAL_FORMS)}"
    pe_ratio = None if rng.random() < NO_PE_SHARE else _two_places(rng.lognormvariate(math.log(18), 0.5))
    dividend_yield = None if rng.random() < NO_DIVIDEND_SHARE else _two_places(rng.uniform(0.2, 6.0))
    return Listing(
        ticker=ticker,
        name=name,
        exchange=rng.choices([name for name, _ in exchanges], [weight for _, weight in exchanges])[0],
        sector=sector,
        industry=rng.choice(sector.industries),
        shares=round(math.exp(rng.uniform(math.log(5e6), math.log(5e9)))),
        pe_ratio=pe_ratio,
        dividend_yield=dividend_yield,
        is_active=rng.random() >= INACTIVE_SHARE,
        start_ticks=round(math.exp(rng.uniform(math.log(2), math.log(500))) * TICKS),
        base_volume=round(math.exp(rng.uniform(math.log(2e4), math.log(2e7)))),
    )


def _short_ticker(index):
    for length in (1, 2, 3):
        if index < 26**length:
            return _letters(index, length)
        index -= 26**length
    raise ValueError(f"no short ticker number {index}")


def _letters(index, length):
    """The `index`-th upper-case letter combination of `length` letters (A, B, ..., AA, AB, ...)."""
    letters = []
    for _ in range(length):
        index, digit = divmod(index, 26)
        letters.append(string.ascii_uppercase[digit])
    return "".join(reversed(letters))


def _two_places(value):
    return Decimal(f"{value:.2f}")


# --- What a stock's bars decide -----------------------------------------------------


def year_window(dates):
    """How many of the last trading days fall in the 52 weeks ending on the last one."""
    return sum(1 for day in dates if dates[-1] - day < WEEK_52)


def _price(ticks):
    return Decimal(ticks).scaleb(-4)


# --- Writing the bars ---------------------------------------------------------------


def _can_copy():
    """COPY FROM STDIN as used here needs PostgreSQL through psycopg2 (psycopg 3 has another copy API)."""
    with connection.cursor() as cursor:
        return connection.vendor == "postgresql" and hasattr(cursor, "copy_expert")


def _bars_target():
    """`table (column, ...)` for the bar columns in the order the writers give them, names from the model."""
    quote, meta = connection.ops.quote_name, DailyBar._meta
    columns = [meta.get_field(name).column for name in ("stock", "date", "open", "high", "low", "close", "volume")]
    return f"{quote(meta.db_table)} ({', '.join(map(quote, columns))})"


def _copy_bars(stock_ids, histories, days):
    lines = map(_copy_lines, stock_ids, histories, itertools.repeat(days))
    with connection.cursor() as cursor, _blocking_waits():
        cursor.copy_expert(f"COPY {_bars_target()} FROM STDIN", _TextStream(lines), size=COPY_READ_SIZE)


@contextlib.contextmanager
def _blocking_waits():
    """psycopg2 refuses COPY while a wait callback is set ("green" mode), and the portal's PostgreSQL engine sets
    one for its client-side deadlines: lift it for the COPY (the server's statement_timeout still bounds it).
    Through psycopg2 directly, as the domain imports nothing of the ops portal."""
    callback = psycopg2.extensions.get_wait_callback()
    psycopg2.extensions.set_wait_callback(None)
    try:
        yield
    finally:
        psycopg2.extensions.set_wait_callback(callback)


def _insert_bars(stock_ids, histories, days):
    sql = f"INSERT INTO {_bars_target()} VALUES (%s, %s, %s, %s, %s, %s, %s)"
    with connection.cursor() as cursor:
        batch = []
        for stock_id, history in zip(stock_ids, histories, strict=True):
            batch.extend(_parameter_rows(stock_id, history, days))
            if len(batch) >= INSERT_BATCH:
                cursor.executemany(sql, batch)
                batch.clear()
        if batch:
            cursor.executemany(sql, batch)


def _copy_lines(stock_id, history, days):
    """One stock's bars in COPY text format."""
    return "".join(
        f"{stock_id}\t{day}\t{o // TICKS}.{o % TICKS:04d}\t{h // TICKS}.{h % TICKS:04d}"
        f"\t{lo // TICKS}.{lo % TICKS:04d}\t{c // TICKS}.{c % TICKS:04d}\t{v}\n"
        for day, o, h, lo, c, v in zip(days, *history, strict=True)
    )


def _parameter_rows(stock_id, history, days):
    return [
        (stock_id, day, _price(o), _price(h), _price(lo), _price(c), v)
        for day, o, h, lo, c, v in zip(days, *history, strict=True)
    ]


class _TextStream:
    """A file-like view of an iterator of strings, for COPY ... FROM STDIN: holds one chunk, never the whole text."""

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self._buffer = ""

    def read(self, size=-1):
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        size = len(self._buffer) if size < 0 else size
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data
