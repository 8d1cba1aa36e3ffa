"""The Database page in a browser: what needs attention first, the index list sorted and filtered, its controls.

An operator reads the overview, sorts and filters the indexes (the state kept in the
URL), rebuilds one, drops one that no model declares and ANALYZEs a table, each through
the page that shows what is selected. A viewer reads the same page without a control.
"""

import re

import pytest

from tests.helpers import sql

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or, in CI, fails) with the reason
    expect = None

pytestmark = pytest.mark.sqlite  # one pass is enough: see tests/e2e/conftest.py

EXTRA = "stocks_dailybar_volume_close_open_high_low_by_hand_idx"  # declared by no model, a long name


@pytest.fixture
def extra_index(transactional_db):
    sql(f"CREATE INDEX {EXTRA} ON stocks_dailybar (volume, close, open, high, low)")
    yield EXTRA
    sql(f"DROP INDEX IF EXISTS {EXTRA}")


def open_database_page(page):
    page.get_by_role("link", name="Indexes and tables").click()
    expect(page.locator("#database-summary")).to_contain_text("every declared index is present and valid")


def test_an_operator_reads_the_overview_then_sorts_filters_and_acts_on_indexes(
    page, user_in, log_in, screenshot, extra_index
):
    log_in(user_in("Ops operators"))
    open_database_page(page)

    checks = page.locator("#database-checks li")
    expect(checks).to_have_count(2)  # SQLite: the declared indexes, and what only PostgreSQL can tell
    expect(checks.first).to_contain_text("need PostgreSQL's statistics")
    expect(checks.last).to_contain_text("Every declared index is present")
    advice = page.locator("#database-advice")
    expect(advice).to_contain_text(f"Index {EXTRA} on stocks_dailybar is declared by no model")
    row = page.locator(f'#database-indexes tr[data-index="{EXTRA}"]')
    expect(row).to_contain_text("declared by no model")
    screenshot("overview")
    # Every badge is inside the card at 1440 px, none cut off by the table's width.
    card_right = page.locator("#indexes").bounding_box()["x"] + page.locator("#indexes").bounding_box()["width"]
    for badge in page.locator("#database-indexes .index-badge").all():
        box = badge.bounding_box()
        assert box["x"] + box["width"] <= card_right, badge.text_content()

    # Sort by table, then keep only stocks_stock: the URL says so, and a reload keeps it.
    page.locator("#database-indexes th button", has_text="Table").click()
    expect(page.locator("#database-indexes th", has_text="Table")).to_have_attribute("aria-sort", "ascending")
    page.locator('#index-filters select[name="table"]').select_option("stocks_stock")
    expect(page).to_have_url(re.compile(r"table=stocks_stock.*sort=table|sort=table.*table=stocks_stock"))
    visible = page.locator("#database-indexes tbody tr:visible")
    expect(visible).not_to_have_count(0)
    for table in visible.evaluate_all("rows => rows.map(row => row.dataset.table)"):
        assert table == "stocks_stock"
    expect(page.locator("#index-count")).to_contain_text(re.compile(r"^\d+ of \d+ indexes$"))
    page.reload()
    expect(page.locator('#index-filters select[name="table"]')).to_have_value("stocks_stock")
    screenshot("filtered")

    # Rebuild a valid, declared index: the next page shows it, and only it, with its table.
    page.get_by_label("select stock_movers_idx").check()
    page.locator("#rebuild-selected").click()
    expect(page.locator("#content").get_by_role("heading", name="Rebuild indexes")).to_be_visible()
    expect(page.get_by_label("stock_movers_idx (on stocks_stock)")).to_be_checked()
    expect(page.locator('input[name="indexes"]')).to_have_count(1)
    screenshot("rebuild")
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_text("sent as run")).to_be_visible()

    # Drop the index no model declares: shown with its table, then confirmed by typing its name.
    page.goto("/admin/ops/database/")
    page.locator('#index-filters select[name="table"]').select_option("")
    page.get_by_label(f"select {EXTRA}").check()
    page.locator("#drop-selected").click()
    expect(page.locator('input[name="indexes"]')).to_have_count(1)
    expect(page.get_by_label(f"{EXTRA} (on stocks_dailybar)")).to_be_checked()
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_text(f"{EXTRA} (on stocks_dailybar)")).to_be_visible()
    page.get_by_label("Confirm").fill(EXTRA)
    screenshot("drop-confirm")
    page.get_by_role("button", name="Yes, I'm sure").click()
    expect(page.get_by_text(f"Dropped 1 of 1 index: {EXTRA}.").first).to_be_visible()

    # ANALYZE a table from the Tables section (SQLite offers it too).
    page.goto("/admin/ops/database/#tables")
    page.get_by_label("select stocks_stock", exact=True).check()
    page.locator("#analyze-selected").click()
    expect(page.get_by_label("stocks_stock", exact=True)).to_be_checked()
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_text("ANALYZE of 1 of 1 table done.").first).to_be_visible()
    screenshot("analyzed")


def test_a_viewer_reads_the_overview_without_a_control(page, user_in, log_in, screenshot):
    log_in(user_in("Ops viewers"))
    open_database_page(page)
    expect(page.locator("#database-checks li").first).to_be_visible()
    expect(page.locator('#database-indexes tr[data-index="stock_movers_idx"]')).to_be_visible()
    expect(page.locator('#database-tables tr[data-table="stocks_stock"]')).to_be_visible()
    expect(page.locator("#index-filters")).to_be_visible()  # reading aids, not controls
    for control in ("#rebuild-selected", "#drop-selected", "#analyze-selected", "#analyze-all", "#vacuum-selected"):
        expect(page.locator(control)).to_have_count(0)
    expect(page.locator('#database-page input[type="checkbox"]')).to_have_count(0)
    expect(page.get_by_role("link", name="Optimize now…")).to_have_count(0)
    screenshot("viewer")
