"""The daily bars list in a browser: sorted by the columns an index serves, paged as deep as they reach."""

import datetime
import re

import pytest

from stocks.pagination import ShallowPaginator
from tests.stocks.factories import make_bars, make_stock

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or, in CI, fails) with the reason
    expect = None

pytestmark = pytest.mark.sqlite  # one pass is enough: see tests/e2e/conftest.py

LAST_DAY = datetime.date(2026, 11, 27)
BARS_URL = "/admin/stocks/dailybar/"


@pytest.fixture
def bars(transactional_db, monkeypatch):
    """1,750 bars: four stocks with 400 days each and NEW with 150; pages stop after 1,100 rows (11 of 100)."""
    for ticker in ("MSFT", "AAL", "AAPL", "IBM"):
        make_bars(make_stock(ticker), LAST_DAY - datetime.timedelta(days=399), 400)
    make_bars(make_stock("NEW"), LAST_DAY - datetime.timedelta(days=149), 150)
    monkeypatch.setattr(ShallowPaginator, "reachable_rows", 1_100)


def rows(page):
    return page.locator("#result_list tr.data-row")


def footer(page):
    return page.locator("#result-count")


def test_the_daily_bars_are_sorted_and_paged(page, bars, user_in, log_in, screenshot):
    log_in(user_in(superuser=True))
    page.goto(BARS_URL)

    # Newest first; the footer counts with separators, offers the first 11 pages, says how to reach the rest.
    expect(rows(page)).to_have_count(100)
    expect(rows(page).first).to_contain_text("Nov. 27, 2026")
    expect(footer(page)).to_contain_text("1,750 daily bars")
    expect(footer(page)).to_contain_text("the pages show the first 1,100 in this order")
    expect(page.get_by_role("link", name="11", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="12", exact=True)).to_have_count(0)
    expect(page.get_by_text("…", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="…")).to_have_count(0)
    expect(page.get_by_role("link", name="Show all")).to_have_count(0)  # the whole list is not linked to itself
    headers = page.locator("#result_list thead")
    for column in ("Open", "High", "Low", "Close", "Volume"):
        expect(headers.get_by_role("link", name=column, exact=True)).to_have_count(0)
    screenshot("newest-first")

    # By stock, the date kept as the second key: tickers A to Z, each stock's bars newest first.
    headers.get_by_role("link", name="Stock", exact=True).click()
    page.wait_for_url(re.compile(r"o=1\.-2"))
    expect(rows(page).first).to_contain_text("AAL")
    expect(rows(page).first).to_contain_text("Nov. 27, 2026")
    screenshot("by-stock")

    # Then by date first: the oldest day's bars, in ticker order; the last page offered.
    headers.get_by_role("link", name="Date", exact=True).click()
    page.wait_for_url(re.compile(r"o=2\.1"))
    expect(rows(page).first).to_contain_text("AAL")
    expect(rows(page).first).to_contain_text("Oct. 24, 2025")
    page.get_by_role("link", name="11", exact=True).click()
    page.wait_for_url(re.compile(r"p=11"))
    expect(rows(page)).to_have_count(100)
    expect(page.get_by_text("…", exact=True).first).to_be_visible()
    screenshot("by-date-page-11")

    # A stock with 150 bars: two pages; no "Show all", which offers no more than a page's 100 rows.
    page.locator("#searchbar").fill("new")
    page.locator("#searchbar").press("Enter")
    expect(rows(page)).to_have_count(100)
    expect(footer(page)).to_contain_text("150 daily bars")
    expect(page.get_by_role("link", name="2", exact=True)).to_be_visible()
    expect(page.locator("a.showall")).to_have_count(0)
    screenshot("one-stock")

    # The title's "Show all" leads back to every bar.
    page.locator("h1").get_by_role("link", name="Show all").click()
    expect(footer(page)).to_contain_text("1,750 daily bars")
    expect(page.locator("h1").get_by_role("link", name="Show all")).to_have_count(0)
