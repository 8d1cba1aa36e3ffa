"""The Live queries page in a browser, on PostgreSQL (a lock wait needs other sessions): an operator sees the
blocked query under its blocker and cancels it from the page; a viewer sees the same page without a control."""

import re

import pytest

from tests.opsadmin.activity.sessions import blocked_pair, close_all

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or, in CI, fails) with the reason
    expect = None

pytestmark = pytest.mark.postgres  # unlike the other pages: only PostgreSQL has sessions to show


@pytest.fixture
def blocked(transactional_db):
    """`blocked()`: (blocker, waiter) on stocks_stock from then on; both closed before the test's flush (which needs
    that table's lock). Taken after logging in: the dashboard the login lands on reads the catalog, and waits for
    the held table its lock timeout each time (opsadmin.spine.catalog_locks)."""
    yield blocked_pair
    close_all()


def test_an_operator_sees_the_blocked_query_and_cancels_it(page, blocked, user_in, log_in, screenshot):
    log_in(user_in("Ops operators"))
    blocker, waiter = blocked()
    page.get_by_role("link", name=re.compile(r"Live queries$")).click()  # the sidebar's

    expect(page.locator("#activity-blocking-summary")).to_contain_text("1 session waiting")
    expect(page.locator(f'#activity-blocking tr[data-pid="{blocker.pid}"]')).to_have_attribute("data-depth", "0")
    waiting = page.locator(f'#activity-blocking tr[data-pid="{waiter.pid}"]')
    expect(waiting).to_have_attribute("data-depth", "1")
    expect(waiting).to_contain_text("AccessShareLock on stocks_stock")
    expect(waiting).to_contain_text("held as AccessExclusiveLock")
    expect(page.locator("#sessions-terminate")).to_be_visible()
    expect(page.locator("#activity-raw")).not_to_be_visible()  # the raw JSON waits behind its toggle
    screenshot("operator")

    page.locator(f'#activity-blocking input[value="{waiter.pid}"]').check()
    page.locator(f'#activity-blocking input[value="{blocker.pid}"]').check()
    page.locator("#blocking-cancel").click()
    page.wait_for_url("**/admin/ops/run/cancel_query/?pids=*")
    expect(page.locator("#id_pids")).to_have_value(f"{blocker.pid}, {waiter.pid}")  # the selection fills the form
    page.locator("#id_pids").fill(str(waiter.pid))  # second thoughts: the waiter alone
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.locator("#confirmation-action")).to_contain_text("Cancel the running query of 1 session")
    screenshot("confirmation")
    page.get_by_role("button", name="Yes, I'm sure").click()
    expect(page.locator("#run-summary")).to_contain_text(f"Cancelled the query of pid {waiter.pid}")
    screenshot("run")
    assert waiter.finished()
    assert "canceling statement" in str(waiter.error)
    assert blocker.alive


def test_a_viewer_sees_the_lock_wait_without_controls(page, blocked, user_in, log_in, screenshot):
    log_in(user_in("Ops viewers"))
    _, waiter = blocked()
    page.goto("/admin/ops/activity/")
    expect(page.locator(f'#activity-blocking tr[data-pid="{waiter.pid}"]')).to_be_visible()
    expect(page.locator(".activity-controls")).to_have_count(0)
    expect(page.locator('input[name="pids"]')).to_have_count(0)
    screenshot("viewer")
