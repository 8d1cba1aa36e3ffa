"""load_stocks: CSV rows validated one by one, bad ones reported by line, good ones upserted (SQLite and PostgreSQL)."""

import datetime
import json
import re
import subprocess
import sys
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from stocks import csv_import
from stocks.models import DailyBar, Stock
from tests.stocks.factories import make_bars, make_stock

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
BARS_HEADER = "ticker,date,open,high,low,close,volume\n"


@pytest.fixture
def csv_file(tmp_path):
    """Write `content` (text, or bytes as they are) to a CSV file; returns its path."""

    def write(content, name="data.csv"):
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return write


def load(path, *args):
    """Run load_stocks with --json: (exit status, report)."""
    out = StringIO()
    try:
        call_command("load_stocks", str(path), "--json", *args, stdout=out, stderr=StringIO())
    except CommandError as error:
        return error.returncode, json.loads(out.getvalue())
    return 0, json.loads(out.getvalue())


def file_error(path, *args):
    """Run load_stocks on a file it can't import at all: (exit status, message)."""
    with pytest.raises(CommandError) as raised:
        call_command("load_stocks", str(path), *args, stdout=StringIO(), stderr=StringIO())
    return raised.value.returncode, str(raised.value)


def rejected(report):
    return {row["line"]: row["reason"] for row in report["rejected_rows"]}


STOCKS = """\
ticker,name,exchange,sector,last_price,week_52_high,week_52_low,is_active
AAPL,Apple Inc.,NASDAQ,Information Technology,228.52,237.49,164.08,true
abc$,Bad Ticker Corp.,NYSE,,1,,,true
MSFT,Microsoft,NASDAQ,,41O.5,,,true
GOOG,,NASDAQ,,170,,,true
NVDA,Nvidia,NASDAQ,,130,100,120,yes
AAPL,Apple again,NASDAQ,,1,,,true
brk.b,Berkshire Hathaway,NYSE,Financials,458.1,,,1
IBM,International Business Machines,NYSE,,,,,maybe
"""


def test_bad_stock_rows_are_reported_by_line_and_the_good_ones_kept(csv_file):
    code, report = load(csv_file(STOCKS))
    assert code == 1
    assert (report["layout"], report["rows"], report["created"], report["updated"]) == ("stocks", 8, 2, 0)
    assert report["rejected"] == 6
    reasons = rejected(report)
    assert sorted(reasons) == [3, 4, 5, 6, 7, 9]
    assert reasons[3].startswith("ticker 'abc$' is not a ticker")
    assert reasons[4] == "last_price '41O.5' is not a decimal number"
    assert reasons[5] == "name is required"
    assert reasons[6] == "week_52_low 120 is above week_52_high 100"
    assert reasons[7] == "duplicate: ticker AAPL appeared earlier in the file (the first is kept)"
    assert reasons[9] == "is_active 'maybe' is not true/false, 1/0 or yes/no"
    assert list(Stock.objects.values_list("ticker", flat=True)) == ["AAPL", "BRK.B"]
    apple = Stock.objects.get(ticker="AAPL")
    assert (apple.name, apple.last_price, apple.week_52_low) == ("Apple Inc.", Decimal("228.52"), Decimal("164.08"))
    assert (apple.currency, apple.industry) == ("USD", "")  # not in the header: the model's defaults


def test_stock_rows_update_only_the_columns_given(csv_file):
    make_stock("AAPL", name="Apple", sector="Technology", last_price=Decimal("100"), pe_ratio=Decimal("30"))
    path = csv_file("Ticker, Name ,LAST_PRICE,pe_ratio\naapl,Apple Inc.,228.5200,\nMSFT,Microsoft,410,35.5\n")
    code, report = load(path)
    assert code == 0
    assert (report["created"], report["updated"], report["rejected"]) == (1, 1, 0)
    apple = Stock.objects.get(ticker="AAPL")
    assert (apple.name, apple.last_price, apple.pe_ratio) == ("Apple Inc.", Decimal("228.52"), None)
    assert apple.sector == "Technology"  # no sector column: left as it was
    assert Stock.objects.get(ticker="MSFT").pe_ratio == Decimal("35.5")


def test_stock_values_must_fit_their_columns(csv_file):
    long_name = "x" * 201
    path = csv_file(
        "ticker,name,currency,market_cap,dividend_yield,change_percent\n"
        f"AAA,{long_name},USD,1,1,1\n"
        "BBB,B,US Dollar,1,1,1\n"
        "CCC,C,usd,-5,1,1\n"
        "DDD,D,usd,1,-0.5,1\n"
        "EEE,E,usd,1,1,12.34567\n"
        "FFF,F,usd,1,1,123456789.5\n"
        "GGG,G,eur,9223372036854775808,1,-3.5\n"
        "HHH,H,eur,1_000,1,-3.5\n"
    )
    code, report = load(path)
    assert code == 1
    reasons = rejected(report)
    assert reasons[2] == f"name '{'x' * 39}…' is longer than 200 characters"  # long values are cut short
    assert reasons[3] == "currency 'US Dollar' is not a three-letter currency code such as USD"
    assert reasons[4] == "market_cap '-5' is out of range (0 to 9,223,372,036,854,775,807)"
    assert reasons[5] == "dividend_yield '-0.5' is less than 0"
    assert reasons[6] == "change_percent '12.34567' has more than 4 decimal places"
    assert reasons[7] == "change_percent '123456789.5' has more than 8 digits before the decimal point"
    assert reasons[8].startswith("market_cap '9223372036854775808' is out of range")
    assert reasons[9] == "market_cap '1_000' is not a whole number"
    assert report["created"] == 0


@pytest.fixture
def apple():
    return make_stock("AAPL")


def test_bad_bar_rows_are_reported_by_line_and_the_good_ones_kept(csv_file, apple):
    path = csv_file(
        BARS_HEADER
        + "AAPL,2026-01-02,10,11,9,10.5,100\n"
        + "AAPL,2026-01-05,10,9,11,10.5,100\n"
        + "ZZZZ,2026-01-02,10,11,9,10.5,100\n"
        + "aapl,2026-01-02,10,11,9,10.5,100\n"
        + "AAPL,2026-1-6,10,11,9,10.5,100\n"
        + "AAPL,2026-01-07,10,11,9,10.5,1.5\n"
        + "AAPL,2026-01-08,10.12345,11,9,10.5,1\n"
        + "AAPL,2026-01-09,12,11.5,9,10.5,1\n"
        + "AAPL,2026-01-12,10,11,0,10.5,1\n"
        + "AAPL,2026-01-13,10,11,9\n"
        + "AAPL,2026-01-14,10.0000,11.0000,9.0000,10.5000,0\n"
    )
    code, report = load(path)
    assert code == 1
    assert (report["layout"], report["rows"], report["created"], report["rejected"]) == ("bars", 11, 2, 9)
    assert rejected(report) == {
        3: "low 11 is above high 9",
        4: "ticker ZZZZ is not in the database: load it with a stocks file first",
        5: "duplicate: AAPL on 2026-01-02 appeared earlier in the file (the first is kept)",
        6: "date '2026-1-6' is not a date in the form YYYY-MM-DD",
        7: "volume '1.5' is not a whole number",
        8: "open '10.12345' has more than 4 decimal places",
        9: "open 12 is outside the day's range 9 to 11.5",
        10: "low '0' is not more than 0",
        11: "has 5 fields where the header has 7",
    }
    bars = list(apple.bars.order_by("date").values_list("date", "open", "high", "low", "close", "volume"))
    assert bars == [
        (datetime.date(2026, 1, 2), Decimal("10"), Decimal("11"), Decimal("9"), Decimal("10.5"), 100),
        (datetime.date(2026, 1, 14), Decimal("10"), Decimal("11"), Decimal("9"), Decimal("10.5"), 0),
    ]


def test_bar_rows_update_existing_bars(csv_file, apple):
    make_bars(apple, datetime.date(2026, 1, 1), 2)  # Jan 1 and 2, price 10
    path = csv_file(BARS_HEADER + "AAPL,2026-01-02,20,21,19,20.5,7\nAAPL,2026-01-03,30,31,29,30,8\n")
    code, report = load(path)
    assert (code, report["created"], report["updated"]) == (0, 1, 1)
    closes = dict(apple.bars.values_list("date", "close"))
    assert closes == {
        datetime.date(2026, 1, 1): Decimal("10"),
        datetime.date(2026, 1, 2): Decimal("20.5"),
        datetime.date(2026, 1, 3): Decimal("30"),
    }


def test_large_files_go_in_batches(csv_file, apple, monkeypatch):
    monkeypatch.setattr(csv_import, "BATCH_SIZE", 2)
    make_bars(apple, datetime.date(2026, 1, 3), 2)  # Jan 3 and 4 exist
    rows = "".join(f"AAPL,2026-01-0{day},10,11,9,10,{day}\n" for day in range(1, 8))
    code, report = load(csv_file(BARS_HEADER + rows))
    assert (code, report["created"], report["updated"]) == (0, 5, 2)
    assert sorted(apple.bars.values_list("volume", flat=True)) == list(range(1, 8))


def test_atomic_writes_nothing_when_a_row_is_bad(csv_file):
    make_stock("AAPL", name="Apple")
    code, report = load(csv_file(STOCKS), "--atomic")
    assert code == 1
    assert (report["rolled_back"], report["created"], report["updated"], report["rejected"]) == (True, 0, 0, 6)
    assert sorted(rejected(report)) == [3, 4, 5, 6, 7, 9]  # every bad row is still reported
    assert list(Stock.objects.values_list("ticker", "name")) == [("AAPL", "Apple")]


def test_atomic_writes_everything_when_every_row_is_good(csv_file):
    code, report = load(csv_file("ticker,name\nAAA,A\nBBB,B\n"), "--atomic")
    assert (code, report["rolled_back"], report["created"]) == (0, False, 2)
    assert Stock.objects.count() == 2


def test_bytes_that_are_not_utf8_spoil_their_row_only(csv_file):
    code, report = load(csv_file(b"ticker,name\nAAA,Caf\xe9 Holdings\nBBB,Caf\xc3\xa9 Holdings\n"))
    assert code == 1
    assert rejected(report) == {2: "not UTF-8 text (byte 0xe9): save the file as UTF-8"}
    assert list(Stock.objects.values_list("name", flat=True)) == ["Café Holdings"]


def test_line_numbers_count_physical_lines(csv_file):
    content = '\ufeffticker,name\n\nAAA,"Two\nlines"\n\nbad!,B\r\n'
    code, report = load(csv_file(content))
    assert code == 1
    assert rejected(report).keys() == {6}
    assert Stock.objects.get().name == "Two\nlines"


def test_malformed_rows_are_rejected(csv_file):
    code, report = load(csv_file('ticker,name\nAAA,"Quoted" twice\nBBB,Nul\x00Corp\nCCC,C\nDDD,"never closed\nEEE,E\n'))
    assert code == 1
    assert rejected(report) == {
        2: "not valid CSV: ',' expected after '\"'",
        3: "name 'Nul\\x00Corp' contains a NUL character",
        5: "not valid CSV: unexpected end of data",
    }
    assert list(Stock.objects.values_list("ticker", flat=True)) == ["CCC"]


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        (b"", "the file is empty"),
        (b"\n\n", "the file is empty"),
        (b"foo,bar\n1,2\n", "the header 'foo,bar' is neither layout (no ticker, name; unknown 'foo', 'bar')"),
        (b"ticker,exchange\nAAA,NYSE\n", "is neither layout (no name)"),
        (b"ticker,name,colour\nAAA,A,red\n", "is neither layout (unknown 'colour')"),
        (b"ticker,date,open\nAAA,2026-01-02,1\n", "is neither layout (no high, low, close, volume)"),
        (b"ticker,name,name\n", "the header names name more than once"),
        (b"\xff\xfet\x00i\x00c\x00k\x00e\x00r\x00\n\x00", "cannot read the header row (line 1): not UTF-8 text"),
    ],
)
def test_files_of_no_known_layout_are_usage_errors(csv_file, content, complaint):
    code, message = file_error(csv_file(content))
    assert code == 2
    assert complaint in message
    assert not Stock.objects.exists()


def test_missing_files_and_directories_are_usage_errors(tmp_path):
    assert file_error(tmp_path / "nope.csv") == (2, f"cannot read {tmp_path / 'nope.csv'}: No such file or directory")
    assert file_error(tmp_path) == (2, f"cannot read {tmp_path}: Is a directory")


def test_the_text_report(csv_file):
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("load_stocks", str(csv_file("ticker,name\nAAA,A\n!,B\n")), stdout=out, stderr=err)
    assert str(raised.value) == "1 row rejected; the others were imported."
    assert out.getvalue().endswith("(stocks): 2 rows, 1 created, 0 updated, 1 rejected.\n")
    assert err.getvalue().startswith("line 3: ticker '!' is not a ticker")


def test_the_documented_examples_load(csv_file):
    docs = (REPO / "docs" / "csv-formats.md").read_text()
    stocks, bars = re.findall(r"```csv\n(.*?)```", docs, re.DOTALL)
    assert load(csv_file(stocks, "stocks.csv"))[0] == 0
    assert load(csv_file(bars, "bars.csv"))[0] == 0
    assert (Stock.objects.count(), DailyBar.objects.count()) == (3, 3)


def test_exit_status_from_the_command_line(tmp_path):
    command = [sys.executable, "manage.py", "load_stocks", str(tmp_path / "nope.csv")]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "No such file or directory" in result.stderr
    assert "Traceback" not in result.stderr
