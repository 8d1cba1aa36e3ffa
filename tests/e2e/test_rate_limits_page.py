"""The Rate limits page in a browser: an operator reads the limiter and its tiers, then resets an anonymous
address's counters from the page's link; a viewer reads the same page without the link."""

import re

import pytest

from opsadmin.spine import channel
from stocks import rate_limits

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or, in CI, fails) with the reason
    expect = None

pytestmark = pytest.mark.sqlite  # one pass is enough: see tests/e2e/conftest.py

ADDRESS = "203.0.113.7"  # TEST-NET-3: an anonymous caller of the scanner API


@pytest.fixture
def counted_address(transactional_db):
    """An anonymous caller that made 7 requests, as the live server (this process) counted them."""
    caller = rate_limits.Identity(rate_limits.ANONYMOUS, f"address:{ADDRESS}")
    for _ in range(7):
        rate_limits.hit(caller)
    assert rate_limits.peek(caller).used["minute"] == 7
    return caller


def test_an_operator_reads_the_limiter_and_resets_an_address(page, counted_address, user_in, log_in, screenshot):
    log_in(user_in("Ops operators"))
    page.get_by_role("link", name=re.compile(r"Rate limits$")).click()  # the sidebar's
    expect(page.locator("#rate-limits-page")).to_have_attribute("data-state", "enforcing")
    expect(page.locator("#rate-limits-detail")).to_contain_text("each process counts its own")
    expect(page.locator('tr[data-tier="free"]')).to_contain_text("5,000")
    expect(page.locator('tr[data-tier="anonymous"]')).to_contain_text("by address")
    screenshot("page")

    page.locator("#reset-rate-limits").click()
    expect(page.locator("#content").get_by_role("heading", name="Reset rate limits")).to_be_visible()
    page.get_by_label("Anonymous addresses").fill(ADDRESS)
    screenshot("reset-form")
    page.get_by_role("button", name="Run").click()
    # Counters in memory (this pass) live in each web process: the reset goes to every one, which it says first.
    expect(page.locator("#confirmation-action")).to_contain_text("in every web process")
    page.get_by_role("button", name="Yes, I'm sure").click()
    expect(page.locator("#run-summary")).to_contain_text("Queued")
    channel.tick()  # what this process's own thread does under runserver or gunicorn: take the work, answer
    page.reload()
    expect(page.locator("#run-outcome")).to_contain_text("1 of 1 process done: Reset the rate limits of 1 caller")
    screenshot("run")
    assert rate_limits.peek(counted_address).used.get("minute", 0) == 0


def test_a_viewer_reads_the_limiter_without_the_reset(page, counted_address, user_in, log_in, screenshot):
    log_in(user_in("Ops viewers"))
    page.goto("/admin/ops/rate_limits/")
    expect(page.locator('tr[data-tier="free"]')).to_contain_text("5,000")
    expect(page.locator("#reset-rate-limits")).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile(r"^Reset rate limits"))).to_have_count(0)
    screenshot("viewer")
