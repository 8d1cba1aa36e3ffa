"""The Database page's Growth section in a browser: a few days of samples drawn as the largest tables' space, each
table's growth in bytes and percent, and a statement picked from the list with its mean time and calls over time."""

from datetime import timedelta

import pytest
from django.utils import timezone

from opsadmin.models import QueryStatsSample, SizeSample

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or, in CI, fails) with the reason
    expect = None

pytestmark = pytest.mark.sqlite  # one pass is enough: the section draws samples, whichever database kept them

DAYS = 6


@pytest.fixture
def history(transactional_db):
    """Six daily captures of three tables growing at different rates, and two statements captured hourly."""
    now = timezone.now()
    for day in range(DAYS):
        at = now - timedelta(days=DAYS - 1 - day, minutes=5)
        for table, start, step in [
            ("stocks_dailybar", 48_000_000, 6_500_000),
            ("stocks_stock", 2_400_000, 150_000),
            ("opsadmin_opsrun", 900_000, 400_000),
        ]:
            SizeSample.objects.create(captured_at=at, schema="public", table=table, bytes=start + step * day)
            SizeSample.objects.create(
                captured_at=at, schema="public", table=table, index=f"{table}_pkey", bytes=(start + step * day) // 5
            )
    statements = {
        11: "SELECT * FROM stocks_dailybar WHERE stock_id = $1 ORDER BY date DESC LIMIT $2",
        12: "SELECT COUNT(*) FROM stocks_stock WHERE change_percent > $1",
    }
    for queryid, text in statements.items():
        calls, total = 0, 0.0
        for hour in range(48, -1, -1):
            made = 200 + 15 * (hour % 12) if queryid == 11 else 40
            calls, total = calls + made, total + made * (12.0 + (48 - hour) * 0.4 if queryid == 11 else 3.0)
            QueryStatsSample.objects.create(
                captured_at=now - timedelta(hours=hour, minutes=2),
                queryid=queryid,
                query=text,
                calls=calls,
                total_ms=total,
                mean_ms=total / calls,
            )


def test_an_operator_reads_the_growth_of_tables_and_a_query_over_time(page, user_in, log_in, screenshot, history):
    log_in(user_in("Ops operators"))
    page.get_by_role("link", name="Indexes and tables").click()
    page.locator("#database-sections").get_by_role("link", name="Growth").click()
    growth = page.locator("#growth")
    expect(growth.locator("#growth-space svg polyline")).to_have_count(3)
    expect(growth.locator("#growth-space svg polyline").first).to_have_attribute("data-series", "stocks_dailybar")
    bars = growth.locator('#growth-tables tr[data-table="stocks_dailybar"]')
    expect(bars).to_contain_text("92.1 MiB")  # (48,000,000 + 5 * 6,500,000) * 1.2 bytes now
    expect(bars).to_contain_text("+37.2 MiB")
    expect(bars).to_contain_text("+67.7 %")
    expect(growth.locator("#growth-tables tbody tr").first).to_have_attribute("data-table", "stocks_dailybar")
    queries = growth.locator("#growth-queries")
    first = queries.locator('.growth-query[data-query="11"]')
    expect(first).to_be_visible()
    expect(first.locator("svg polyline")).to_have_count(2)  # mean time, calls
    expect(queries.locator('.growth-query[data-query="12"]')).to_be_hidden()
    growth.scroll_into_view_if_needed()
    screenshot("growth")

    page.locator("#growth-query-select").select_option("12")
    expect(queries.locator('.growth-query[data-query="12"]')).to_be_visible()
    expect(first).to_be_hidden()
    expect(queries.locator('.growth-query[data-query="12"]')).to_contain_text("1,920 calls at 3.0 ms on average")
    screenshot("other-query")
