"""Stocks and daily bars from CSV files: every row validated, good rows upserted in batches.

Two layouts, told apart by the header row (docs/csv-formats.md): stocks (`ticker,name,...`),
upserted by ticker, and daily bars (`ticker,date,open,high,low,close,volume`), upserted by
(stock, date). A bad row is reported with its line number and why, and the good rows go
in; with `atomic=True` nothing goes in unless every row is good. The whole import is one
transaction, so a crash halfway leaves the database as it was.

The file is read as a stream and written BATCH_SIZE rows at a time: a million-row file
never sits in memory, only the keys seen so far (to reject duplicates). Rows are parsed
by hand rather than by a Django Form because a form per row would cost minutes per
million rows; the rules are the model's (lengths, digits, places) and stocks.tickers'.
"""

import csv
import re
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from stocks.models import DailyBar, Stock
from stocks.tickers import normalize_ticker

BATCH_SIZE = 2_000
MAX_LISTED_ERRORS = 1_000  # rejected rows kept for the report; the count is always exact
BIGINT_MAX = 2**63 - 1
BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
DECIMAL_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
INTEGER_TEXT = re.compile(r"[+-]?\d+")
DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")  # date.fromisoformat alone would also take 20260102 or 2026-W01-1
CURRENCY_TEXT = re.compile(r"[A-Za-z]{3}")
DATE_BITS = 22  # date.max.toordinal() < 2**22
DATE_MASK = (1 << DATE_BITS) - 1
REQUIRED = object()  # Column.empty for columns that must have a value


class CsvFileError(Exception):
    """The file as a whole cannot be imported: missing, unreadable, empty or of no known layout."""


class BadRow(ValueError):
    """A row that cannot be imported; the message says why."""


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str

    def __str__(self):
        return f"line {self.line}: {self.reason}"


@dataclass
class ImportReport:
    file: str
    layout: str  # "stocks" or "bars"
    atomic: bool
    rows: int = 0  # data rows read, blank lines not counted
    created: int = 0
    updated: int = 0
    rejected: int = 0
    rolled_back: bool = False  # atomic and some row was rejected: nothing was written
    rejected_rows: list[RowError] = field(default_factory=list)  # the first MAX_LISTED_ERRORS

    def reject(self, line, reason):
        self.rejected += 1
        if len(self.rejected_rows) < MAX_LISTED_ERRORS:
            self.rejected_rows.append(RowError(line, reason))

    def to_dict(self):
        return asdict(self)


def import_csv(path, *, atomic=False):
    """Import the CSV file at `path`; raises CsvFileError when it can't be imported at all."""
    try:
        binary = open(path, "rb")  # noqa: SIM115 -- closed by the with below; open() itself may fail
    except OSError as error:
        raise CsvFileError(f"cannot read {path}: {error.strerror}") from None
    with binary, transaction.atomic():
        records = _records(binary, path)
        header = _header(records)
        rows = BarRows() if BarRows.fits(header) else StockRows(header)
        report = ImportReport(file=str(path), layout=rows.name, atomic=atomic)
        seen, batch = set(), []
        for line, fields, problem in records:
            report.rows += 1
            try:
                if problem:
                    raise BadRow(problem)
                if len(fields) != len(header):
                    raise BadRow(f"has {len(fields)} fields where the header has {len(header)}")
                values = _parse(rows.columns, header, fields)
                key, instance = rows.build(values)
                if key in seen:
                    raise BadRow(f"duplicate: {rows.describe(values)} appeared earlier in the file (the first is kept)")
                seen.add(key)
            except BadRow as error:
                report.reject(line, str(error))
                continue
            if atomic and report.rejected:
                continue  # everything will be rolled back: validate the rest, write nothing more
            batch.append((key, instance))
            if len(batch) == BATCH_SIZE:
                _save(rows, batch, report)
        if atomic and report.rejected:
            transaction.set_rollback(True)
            report.rolled_back, report.created, report.updated = True, 0, 0
        elif batch:
            _save(rows, batch, report)
    return report


def _save(rows, batch, report):
    existing = rows.existing([key for key, _ in batch])
    rows.save([instance for _, instance in batch])
    report.updated += len(existing)
    report.created += len(batch) - len(existing)
    batch.clear()


# --- Reading -----------------------------------------------------------------------


def _records(binary, path):
    """Yield (line number, fields, problem) per CSV record; problem is a reason when the record can't be read.

    Lines are decoded one by one, so bytes that are not UTF-8 spoil their row only.
    The line number is the record's first physical line (a quoted field may span several).
    """
    undecodable = []

    def lines():
        try:
            for number, raw in enumerate(binary, start=1):
                try:
                    yield raw.decode("utf-8-sig" if number == 1 else "utf-8")  # -sig: Excel's byte-order mark
                except UnicodeDecodeError as error:
                    undecodable.append(error)
                    yield raw.decode("utf-8", errors="replace")
        except OSError as error:
            raise CsvFileError(f"cannot read {path}: {error.strerror}") from None

    reader = csv.reader(lines(), strict=True, skipinitialspace=True)  # strict: a stray quote is an error
    end = 0
    while True:
        start = end + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            end = reader.line_num
            yield start, None, f"not valid CSV: {error}"
            continue
        end = reader.line_num
        if undecodable:
            error = undecodable[0]
            undecodable.clear()
            yield start, None, f"not UTF-8 text (byte 0x{error.object[error.start]:02x}): save the file as UTF-8"
        elif fields:
            yield start, fields, None


def _header(records):
    """The header's column names, lower-cased; the first record must be a readable header."""
    for line, fields, problem in records:
        if problem:
            raise CsvFileError(f"cannot read the header row (line {line}): {problem}")
        names = [name.strip().lower() for name in fields]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise CsvFileError(f"the header names {', '.join(duplicates)} more than once")
        return names
    raise CsvFileError("the file is empty: expected a header row (see docs/csv-formats.md)")


def _parse(columns, header, fields):
    """The row's cells as field values; an empty cell takes its column's `empty` value."""
    values = {}
    for name, raw in zip(header, fields, strict=True):
        column, text = columns[name], raw.strip()
        if not text:
            if column.empty is REQUIRED:
                raise BadRow(f"{name} is required")
            values[name] = column.empty
            continue
        try:
            values[name] = column.parse(text)
        except ValueError as error:
            raise BadRow(f"{name} {error}") from None
    return values


# --- Cells -------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    parse: object  # str -> value; raises ValueError with a reason that starts with the value
    empty: object = REQUIRED  # the value of an empty cell


def shown(text, limit=40):
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def ticker(text):
    try:
        return normalize_ticker(text)
    except ValidationError as error:
        raise ValueError(error.messages[0]) from None


def text_of(model, name):
    max_length = model._meta.get_field(name).max_length

    def parse(text):
        if len(text) > max_length:
            raise ValueError(f"{shown(text)} is longer than {max_length} characters")
        if "\x00" in text:
            raise ValueError(f"{shown(text)} contains a NUL character")  # PostgreSQL text can't hold one
        return text

    return parse


def currency(text):
    if not CURRENCY_TEXT.fullmatch(text):
        raise ValueError(f"{shown(text)} is not a three-letter currency code such as USD")
    return text.upper()


def boolean(text):
    try:
        return BOOLEANS[text.lower()]
    except KeyError:
        raise ValueError(f"{shown(text)} is not true/false, 1/0 or yes/no") from None


def count(text):
    """Volumes and market caps: whole numbers from 0 up to what a BigIntegerField holds."""
    if not INTEGER_TEXT.fullmatch(text):
        raise ValueError(f"{shown(text)} is not a whole number")
    value = int(text)
    if not 0 <= value <= BIGINT_MAX:
        raise ValueError(f"{shown(text)} is out of range (0 to {BIGINT_MAX:,})")
    return value


def decimal_of(model, name, *, positive=False, minimum=None):
    """Decimals that fit the model field exactly: no rounding, too many places is an error."""
    model_field = model._meta.get_field(name)
    places = model_field.decimal_places
    whole_digits = model_field.max_digits - places

    def parse(text):
        if not DECIMAL_TEXT.fullmatch(text):
            raise ValueError(f"{shown(text)} is not a decimal number")
        whole, _, fraction = text.lstrip("+-").partition(".")
        if len(fraction.rstrip("0")) > places:
            raise ValueError(f"{shown(text)} has more than {places} decimal places")
        if len(whole.lstrip("0")) > whole_digits:
            raise ValueError(f"{shown(text)} has more than {whole_digits} digits before the decimal point")
        value = Decimal(text)
        if positive and value <= 0:
            raise ValueError(f"{shown(text)} is not more than 0")
        if minimum is not None and value < minimum:
            raise ValueError(f"{shown(text)} is less than {minimum}")
        return value

    return parse


def iso_date(text):
    try:
        if DATE_TEXT.fullmatch(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise ValueError(f"{shown(text)} is not a date in the form YYYY-MM-DD")


# --- The two layouts -----------------------------------------------------------------


def _stock_columns():
    return {
        "ticker": Column(ticker),
        "name": Column(text_of(Stock, "name")),
        "exchange": Column(text_of(Stock, "exchange"), ""),
        "sector": Column(text_of(Stock, "sector"), ""),
        "industry": Column(text_of(Stock, "industry"), ""),
        "currency": Column(currency, Stock._meta.get_field("currency").default),
        "market_cap": Column(count, None),
        "last_price": Column(decimal_of(Stock, "last_price", positive=True), None),
        "change_percent": Column(decimal_of(Stock, "change_percent"), None),
        "volume": Column(count, None),
        "avg_volume_30d": Column(count, None),
        "pe_ratio": Column(decimal_of(Stock, "pe_ratio"), None),
        "dividend_yield": Column(decimal_of(Stock, "dividend_yield", minimum=0), None),
        "week_52_high": Column(decimal_of(Stock, "week_52_high", positive=True), None),
        "week_52_low": Column(decimal_of(Stock, "week_52_low", positive=True), None),
        "is_active": Column(boolean, Stock._meta.get_field("is_active").default),
    }


def _bar_columns():
    prices = {name: Column(decimal_of(DailyBar, name, positive=True)) for name in ("open", "high", "low", "close")}
    return {"ticker": Column(ticker), "date": Column(iso_date), **prices, "volume": Column(count)}


class StockRows:
    """Layout (a): one stock per row, upserted by ticker; the columns given are the columns written."""

    name = "stocks"
    columns = _stock_columns()

    def __init__(self, header):
        unknown = [name for name in header if name not in self.columns]
        missing = [name for name in ("ticker", "name") if name not in header]
        if missing or unknown:
            raise CsvFileError(_unknown_layout(header, unknown, missing))
        self.update_fields = [name for name in header if name != "ticker"] + ["updated_at"]

    def build(self, values):
        high, low = values.get("week_52_high"), values.get("week_52_low")
        if high is not None and low is not None and low > high:
            raise BadRow(f"week_52_low {low} is above week_52_high {high}")
        return values["ticker"], Stock(**values)

    @staticmethod
    def describe(values):
        return f"ticker {values['ticker']}"

    @staticmethod
    def existing(tickers):
        return set(Stock.objects.filter(ticker__in=tickers).values_list("ticker", flat=True))

    def save(self, stocks):
        Stock.objects.bulk_create(
            stocks, update_conflicts=True, unique_fields=["ticker"], update_fields=self.update_fields
        )


class BarRows:
    """Layout (b): one bar per row, upserted by (stock, date); the stock must already be in the database."""

    name = "bars"
    columns = _bar_columns()
    value_fields = ("open", "high", "low", "close", "volume")

    def __init__(self):
        self.stock_ids = dict(Stock.objects.values_list("ticker", "id"))

    @classmethod
    def fits(cls, header):
        """Whether the header is meant as bars (it names a bar-only column); raises if it is not quite right."""
        if not set(header) & (set(cls.columns) - set(StockRows.columns)):
            return False
        missing = [name for name in cls.columns if name not in header]
        unknown = [name for name in header if name not in cls.columns]
        if missing or unknown:
            raise CsvFileError(_unknown_layout(header, unknown, missing))
        return True

    def build(self, values):
        stock_id = self.stock_ids.get(values["ticker"])
        if stock_id is None:
            raise BadRow(f"ticker {values['ticker']} is not in the database: load it with a stocks file first")
        low, high = values["low"], values["high"]
        if low > high:
            raise BadRow(f"low {low} is above high {high}")
        for name in ("open", "close"):
            if not low <= values[name] <= high:
                raise BadRow(f"{name} {values[name]} is outside the day's range {low} to {high}")
        bar = DailyBar(stock_id=stock_id, date=values["date"], **{name: values[name] for name in self.value_fields})
        return bar_key(stock_id, values["date"]), bar

    @staticmethod
    def describe(values):
        return f"{values['ticker']} on {values['date']}"

    @staticmethod
    def existing(keys):
        stock_ids = {key >> DATE_BITS for key in keys}
        dates = {date.fromordinal(key & DATE_MASK) for key in keys}
        found = DailyBar.objects.filter(stock_id__in=stock_ids, date__in=dates).values_list("stock_id", "date")
        return {bar_key(stock_id, day) for stock_id, day in found} & set(keys)

    def save(self, bars):
        DailyBar.objects.bulk_create(
            bars, update_conflicts=True, unique_fields=["stock", "date"], update_fields=list(self.value_fields)
        )


def bar_key(stock_id, day):
    """(stock, date) as one int: a million of them fit in a set in tens of megabytes, not hundreds."""
    return stock_id << DATE_BITS | day.toordinal()


def _unknown_layout(header, unknown, missing):
    problems = [
        f"no {', '.join(missing)}" if missing else "",
        f"unknown {', '.join(map(repr, unknown))}" if unknown else "",
    ]
    stock_extras = ",".join(name for name in StockRows.columns if name not in ("ticker", "name"))
    return (
        f"the header {','.join(header)!r} is neither layout ({'; '.join(filter(None, problems))}). "
        f"A stocks file needs ticker,name and may add {stock_extras}; "
        f"a daily-bars file has exactly {','.join(BarRows.columns)} (see docs/csv-formats.md)"
    )
