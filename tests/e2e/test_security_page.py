"""The Security page in a browser: an operator follows the dashboard's tile to the checklist, failures first, the
raw JSON behind its toggle; a viewer has no tile and is refused the page."""

import re

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or, in CI, fails) with the reason
    expect = None

pytestmark = pytest.mark.sqlite  # one pass is enough: see tests/e2e/conftest.py


def test_an_operator_reads_the_checklist(page, user_in, log_in, screenshot):
    log_in(user_in("Ops operators"))
    tile = page.locator('[data-tile="security"]')
    expect(tile).to_contain_text("failing")  # the test server runs on plain HTTP, without HSTS: honest
    expect(tile.locator("xpath=..")).to_contain_text("score")
    expect(page.locator("#security-card")).to_contain_text("Strict-Transport-Security is sent")  # failures listed
    screenshot("dashboard")
    page.get_by_role("link", name=re.compile(r"Security checklist$")).click()  # the sidebar's
    expect(page.locator("#security-overview")).to_have_attribute("data-status", "failing")
    expect(page.locator("#security-score")).to_contain_text("of 100")
    rows = page.locator("tr[data-item]")
    statuses = rows.evaluate_all("rows => rows.map(row => row.dataset.status)")
    order = ["failure", "warning", "pass", "info"]
    assert statuses == sorted(statuses, key=order.index)  # problems first
    expect(page.locator('tr[data-item="security.W004"]')).to_contain_text("SECURE_HSTS_SECONDS = 0")
    expect(page.locator('tr[data-item="opsadmin.security.I114"]')).to_have_attribute("data-status", "info")
    expect(page.locator("#security-raw")).not_to_be_visible()
    screenshot("page")
    page.get_by_text("Details", exact=True).click()
    expect(page.locator("#security-raw")).to_contain_text('"score"')


def test_a_viewer_has_no_tile_and_is_refused(page, user_in, log_in, screenshot):
    log_in(user_in("Ops viewers"))
    expect(page.locator('[data-tile="breakers"]')).to_be_visible()
    expect(page.locator('[data-tile="security"]')).to_have_count(0)
    response = page.goto("/admin/ops/security/")
    assert response.status == 403
    expect(page.locator("body")).to_contain_text("view_security")
    screenshot("refused")
