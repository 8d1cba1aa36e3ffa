"""The scanner API's pages in a browser: an operator reads a member's usage on the Memberships list and resets it
with the list's action; a viewer reads the same list without the action; the API's own page shows its operations
under the portal's Content-Security-Policy."""

import pytest

from opsadmin.spine import channel
from stocks import rate_limits
from stocks.models import Membership

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or, in CI, fails) with the reason
    expect = None

pytestmark = pytest.mark.sqlite  # one pass is enough: see tests/e2e/conftest.py


@pytest.fixture
def counted_member(user_in):
    member = user_in(username="alice", staff=False)
    Membership.objects.create(user=member, tier=Membership.Tier.FREE)
    for _ in range(12):
        rate_limits.hit(rate_limits.user_identity(member))
    return member


def test_an_operator_resets_a_member_s_rate_limits(page, user_in, log_in, counted_member, screenshot):
    log_in(user_in("Ops operators"))
    page.get_by_role("link", name="Memberships").click()
    row = page.locator("#result_list tbody tr").filter(has_text="alice")
    expect(row).to_contain_text("12 / 60 a minute")
    expect(row).to_contain_text("12 / 5,000 a day")
    screenshot("memberships")
    row.locator("input.action-select").check()
    page.locator('select[name="action"]').select_option("reset_rate_limits")
    page.get_by_role("button", name="Run", exact=True).click()
    # Counters in memory (this pass) live in each web process: the reset goes to every one, which it says first.
    expect(page.locator("body")).to_contain_text("every web process")
    screenshot("confirmation")
    page.get_by_role("button", name="Yes, I'm sure").click()
    expect(page.locator("body")).to_contain_text("Reset rate limits: sent as run #")
    channel.tick()  # what this process's own thread does under runserver or gunicorn: take the work, answer
    page.reload()
    expect(page.locator("#result_list tbody tr").filter(has_text="alice")).not_to_contain_text("a minute")
    page.get_by_role("link", name="Ops runs").click()
    page.locator("#result_list tbody tr").first.get_by_role("link").first.click()
    expect(page.locator("#run-outcome")).to_contain_text("1 of 1 process done: Reset the rate limits of 1 caller")
    screenshot("run")


def test_a_viewer_reads_usage_without_the_action(page, user_in, log_in, counted_member):
    log_in(user_in("Ops viewers"))
    page.get_by_role("link", name="Memberships").click()
    expect(page.locator("#result_list tbody tr").filter(has_text="alice")).to_contain_text("12 / 60 a minute")
    expect(page.locator('select[name="action"]')).to_have_count(0)


def test_the_api_page_shows_its_operations(page, screenshot):
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto("/api/docs/")
    expect(page.locator(".opblock")).to_have_count(5)
    expect(page.locator("body")).to_contain_text("/api/stocks/{ticker}/bars/")
    screenshot("docs")
    assert errors == []
