"""seed_stocks: deterministic synthetic data whose stocks agree with their bars (SQLite and PostgreSQL)."""

import datetime
import hashlib
import json
import random
import subprocess
import sys
from decimal import ROUND_HALF_EVEN, Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from stocks.models import DailyBar, Stock
from stocks.seeding import LONG_TICKERS, SECTORS, SHORT_TICKERS, make_listings
from stocks.tickers import TICKER_PATTERN

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
STOCK_COLUMNS = [field.name for field in Stock._meta.fields if field.name not in ("id", "updated_at")]


def seed(*args):
    """Run seed_stocks with --json; returns its report."""
    out = StringIO()
    call_command("seed_stocks", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def exit_code(*args):
    with pytest.raises(CommandError) as raised:
        call_command("seed_stocks", *args, stdout=StringIO())
    return raised.value.returncode, str(raised.value)


def snapshot():
    """Every stored value except ids and timestamps, in a stable order."""
    stocks = list(Stock.objects.order_by("ticker").values_list(*STOCK_COLUMNS))
    bars = list(
        DailyBar.objects.order_by("stock__ticker", "date").values_list(
            "stock__ticker", "date", "open", "high", "low", "close", "volume"
        )
    )
    return stocks, bars


def test_same_arguments_give_the_same_rows():
    seed("--stocks", "12", "--days", "20", "--seed", "7")
    first = snapshot()
    seed("--stocks", "12", "--days", "20", "--seed", "7", "--replace")
    assert snapshot() == first
    assert len(first[0]) == 12
    assert len(first[1]) == 12 * 20


def test_the_rows_are_the_same_on_every_machine():
    """A fingerprint of a tiny dataset: changing the generator on purpose means updating it here."""
    seed("--stocks", "3", "--days", "5", "--seed", "1")
    stocks, bars = snapshot()
    text = repr([[str(value) for value in row] for row in stocks + bars])
    assert [row[0] for row in stocks] == ["FMI", "QZLY", "ZHGL"]
    assert hashlib.sha256(text.encode()).hexdigest()[:16] == "6eff8c04cd812b9f", text


def test_another_seed_gives_other_rows():
    seed("--stocks", "12", "--days", "20", "--seed", "7")
    first = snapshot()
    seed("--stocks", "12", "--days", "20", "--seed", "8", "--replace")
    second = snapshot()
    assert {row[0] for row in first[0]} != {row[0] for row in second[0]}
    assert [bar[2:] for bar in first[1]] != [bar[2:] for bar in second[1]]


def test_bars_are_the_weekdays_ending_at_the_fixed_anchor():
    seed("--stocks", "2", "--days", "7", "--seed", "1")
    dates = sorted(set(DailyBar.objects.values_list("date", flat=True)))
    assert dates == [datetime.date(2026, 11, day) for day in (19, 20, 23, 24, 25, 26, 27)]


def test_an_end_date_on_a_weekend_means_the_friday_before():
    report = seed("--stocks", "1", "--days", "3", "--seed", "1", "--end-date", "2026-03-08")
    assert (report["start_date"], report["end_date"]) == ("2026-03-04", "2026-03-06")
    assert max(DailyBar.objects.values_list("date", flat=True)) == datetime.date(2026, 3, 6)


def test_every_bar_is_a_consistent_positive_price_range():
    seed("--stocks", "8", "--days", "60", "--seed", "3")
    bars = list(DailyBar.objects.values_list("open", "high", "low", "close", "volume"))
    assert len(bars) == 8 * 60
    for open_, high, low, close, volume in bars:
        assert Decimal(0) < low <= min(open_, close)
        assert max(open_, close) <= high
        assert volume > 0
        assert all(-price.as_tuple().exponent <= 4 for price in (open_, high, low, close))


def test_stock_fields_derived_from_the_bars_match_them():
    # 300 trading days: more than the 52-week window, so the window must be applied.
    seed("--stocks", "6", "--days", "300", "--seed", "5")
    for stock in Stock.objects.all():
        bars = list(stock.bars.order_by("date"))
        last, previous = bars[-1], bars[-2]
        year = [bar for bar in bars if bar.date > last.date - datetime.timedelta(weeks=52)]
        recent = [bar.volume for bar in bars[-30:]]
        change = ((last.close - previous.close) * 100 / previous.close).quantize(Decimal("0.0001"), ROUND_HALF_EVEN)
        assert len(bars) == 300
        assert 250 < len(year) < 300
        assert stock.last_price == last.close
        assert stock.change_percent == change
        assert stock.volume == last.volume
        assert stock.avg_volume_30d == sum(recent) // 30
        assert stock.week_52_high == max(bar.high for bar in year)
        assert stock.week_52_low == min(bar.low for bar in year)
        assert stock.market_cap > 0


def test_a_single_day_has_no_change_and_its_own_range():
    seed("--stocks", "3", "--days", "1", "--seed", "1")
    for stock in Stock.objects.all():
        (bar,) = stock.bars.all()
        assert stock.change_percent is None
        assert (stock.last_price, stock.week_52_high, stock.week_52_low) == (bar.close, bar.high, bar.low)
        assert stock.volume == stock.avg_volume_30d == bar.volume


def test_stocks_look_like_a_market():
    seed("--stocks", "400", "--days", "1", "--seed", "2")
    stocks = list(Stock.objects.all())
    sectors = {sector.name: sector.industries for sector in SECTORS}
    assert len(sectors) == 11
    assert len({stock.ticker for stock in stocks}) == 400
    assert all(TICKER_PATTERN.match(stock.ticker) for stock in stocks)
    assert all(stock.industry in sectors[stock.sector] for stock in stocks)
    assert {stock.currency for stock in stocks} == {"USD"}
    assert {stock.exchange for stock in stocks} >= {"NYSE", "NASDAQ"}
    assert all(stock.name for stock in stocks)
    assert 0 < sum(not stock.is_active for stock in stocks) < 400 * 0.06
    assert 0 < sum(stock.pe_ratio is None for stock in stocks) < 400
    assert 0 < sum(stock.dividend_yield is None for stock in stocks) < 400


def test_tickers_stay_unique_when_the_short_ones_run_out():
    listings = make_listings(random.Random(1), 60_000)
    tickers = [listing.ticker for listing in listings]
    assert len(set(tickers)) == 60_000
    assert tickers == sorted(tickers)
    assert sum(len(ticker) <= 3 for ticker in tickers) == SHORT_TICKERS
    assert all(TICKER_PATTERN.match(ticker) for ticker in tickers[::997])
    assert SHORT_TICKERS + LONG_TICKERS == 475_254


def test_the_report_says_how_the_bars_were_written():
    report = seed("--stocks", "4", "--days", "10", "--seed", "1")
    assert report["stocks"] == 4
    assert report["bars"] == 40 == DailyBar.objects.count()
    assert report["method"] == ("copy" if connection.vendor == "postgresql" else "insert")
    assert report["bars_per_second"] > 0
    assert (report["replaced"], report["skipped"], report["existing_stocks"]) == (False, False, 0)


def test_the_summary_line():
    out = StringIO()
    call_command("seed_stocks", "--stocks", "2", "--days", "3", "--seed", "1", stdout=out)
    assert out.getvalue().startswith("Seeded 2 stocks and 6 daily bars (2026-11-25 to 2026-11-27) in ")
    assert "bars/s" in out.getvalue()


def test_if_empty_seeds_an_empty_database():
    report = seed("--if-empty", "--stocks", "3", "--days", "2", "--seed", "1")
    assert (report["skipped"], Stock.objects.count(), DailyBar.objects.count()) == (False, 3, 6)


def test_if_empty_leaves_existing_stocks_alone():
    seed("--stocks", "3", "--days", "2", "--seed", "1")
    before = snapshot()
    out = StringIO()
    call_command("seed_stocks", "--if-empty", "--stocks", "9", "--days", "9", "--seed", "2", stdout=out)
    assert "already has 3 stocks: nothing seeded" in out.getvalue()
    assert snapshot() == before


def test_existing_stocks_are_kept_without_replace():
    seed("--stocks", "3", "--days", "2", "--seed", "1")
    before = snapshot()
    code, message = exit_code("--stocks", "5", "--days", "2", "--seed", "2")
    assert code == 1
    assert "already has 3 stocks" in message
    assert "--replace" in message
    assert snapshot() == before


def test_replace_swaps_the_whole_dataset():
    seed("--stocks", "3", "--days", "2", "--seed", "1")
    report = seed("--stocks", "5", "--days", "4", "--seed", "2", "--replace")
    assert (report["replaced"], report["existing_stocks"]) == (True, 3)
    assert (Stock.objects.count(), DailyBar.objects.count()) == (5, 20)


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--stocks", "0"], "--stocks: Ensure this value is greater than or equal to 1."),
        (["--stocks", "many"], "--stocks: Enter a whole number."),
        (["--days", "0"], "--days: Ensure this value is greater than or equal to 1."),
        (["--stocks", "475255"], "--stocks: There are only 475254 tickers of 1 to 4 letters"),
        (["--seed", "-1"], "--seed: Ensure this value is greater than or equal to 0."),
        (["--end-date", "2026-02-30"], "--end-date: Enter a valid date."),
        (["--end-date", "27/11/2026"], "--end-date: Enter a valid date."),
        (
            ["--end-date", "0001-01-12", "--days", "11"],
            "--days: 11 weekdays ending on 0001-01-12 would start before year 1.",
        ),
        (["--if-empty", "--replace"], "contradict each other"),
    ],
)
def test_bad_arguments_are_usage_errors(args, complaint):
    code, message = exit_code(*args)
    assert code == 2
    assert complaint in message
    assert not Stock.objects.exists()


def test_exit_status_from_the_command_line():
    command = [sys.executable, "manage.py", "seed_stocks", "--stocks", "0"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "--stocks: Ensure this value is greater than or equal to 1." in result.stderr
    assert "Traceback" not in result.stderr
