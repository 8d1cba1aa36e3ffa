"""The Database page in a browser: an operator reads the analysis and ANALYZEs a table from it."""

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or, in CI, fails) with the reason
    expect = None

pytestmark = pytest.mark.sqlite  # one pass is enough: see tests/e2e/conftest.py


def test_an_operator_analyzes_a_table_from_the_database_page(page, user_in, log_in, screenshot):
    log_in(user_in("Ops operators"))

    page.get_by_role("link", name="Indexes and tables").click()
    expect(page.locator("#database-summary")).to_contain_text("every declared index is present and valid")
    expect(page.locator('#database-indexes tr[data-index="stock_movers_idx"]')).to_contain_text("declared")
    screenshot("database")

    page.get_by_role("link", name="Optimize now…").click()
    expect(page.locator("#content").get_by_role("heading", name="Optimize database indexes")).to_be_visible()
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_text("sent as run")).to_be_visible()
    expect(page.locator("#run-summary")).to_contain_text("Queued")
    expect(page.locator("#run-times")).to_contain_text("not yet")
    screenshot("optimize-queued")

    page.goto("/admin/ops/run/analyze_tables/?tables=stocks_stock")
    expect(page.get_by_label("stocks_stock")).to_be_checked()
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_text("ANALYZE of 1 of 1 table done.").first).to_be_visible()
    screenshot("analyzed")


def test_a_viewer_reads_the_database_page_without_its_controls(page, user_in, log_in, screenshot):
    log_in(user_in("Ops viewers"))
    page.get_by_role("link", name="Indexes and tables").click()
    expect(page.locator("#database-summary")).to_contain_text("every declared index is present and valid")
    expect(page.get_by_role("link", name="Optimize now…")).to_have_count(0)
    expect(page.locator('#database-indexes input[type="checkbox"]')).to_have_count(0)
    expect(page.locator("#drop-selected")).to_have_count(0)
    screenshot("database-viewer")
