"""The Breakers page in a browser: the dashboard shows an open breaker failing, an operator resets it from its
page, and a viewer sees the same page without a button."""

import re
from contextlib import suppress

import pytest
import redis

from opsadmin.runtime import breakers
from opsadmin.spine import channel

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or, in CI, fails) with the reason
    expect = None

pytestmark = pytest.mark.sqlite  # one pass is enough: see tests/e2e/conftest.py


@pytest.fixture
def cache_open(transactional_db):
    """The cache breaker tripped by Redis refusing connections, as the live server (this process) sees it."""
    breaker = breakers.get("cache")

    def refused():
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    for _ in range(breaker.fail_max):
        with suppress(redis.ConnectionError):
            breaker.call(refused)
    return breaker


def test_an_operator_resets_an_open_breaker(page, cache_open, user_in, log_in, screenshot):
    log_in(user_in("Ops operators"))
    tile = page.locator('[data-tile="breakers"]')
    expect(tile).to_contain_text("failing")
    expect(tile.locator("xpath=..")).to_contain_text("cache open")
    screenshot("dashboard")

    page.get_by_role("link", name=re.compile(r"Breakers$")).click()  # the sidebar's
    cache = page.locator('[data-breaker="cache"]')
    expect(page.locator("#breakers-headline")).to_have_text("cache open")
    expect(cache).to_have_attribute("data-state", "open")
    expect(cache.locator(".breaker-failures")).to_have_text("3 of 3")
    expect(cache.locator(".breaker-error")).to_contain_text("Connection refused")
    expect(cache.locator(".breaker-trial")).to_contain_text(re.compile(r"\(in \d+ s\)"))
    expect(cache.locator(".breaker-history tr")).to_have_count(1)
    expect(cache.locator(".breaker-history")).to_contain_text("3 failures in a row, the last: ConnectionError")
    expect(cache.locator("details pre")).not_to_be_visible()  # the raw JSON waits behind its toggle
    screenshot("open")

    cache.get_by_role("button", name="Reset").click()
    # Each process keeps its own state here (no REDIS_URL): the reset goes to every web process, named first.
    expect(page.locator("#confirmation-action")).to_contain_text("Reset a circuit breaker (cache) in every web process")
    expect(page.locator("#confirmation-size")).to_contain_text("1 process on 1 instance")
    screenshot("reset-confirmation")
    page.get_by_role("button", name="Yes, I'm sure").click()
    expect(page.locator("#run-summary")).to_contain_text("Queued")
    channel.tick()  # what this process's own thread does under runserver or gunicorn: take the work, answer
    page.reload()
    expect(page.locator("#run-outcome")).to_contain_text("1 of 1 process done: cache: open -> closed")
    screenshot("reset-run")

    page.get_by_role("link", name=re.compile(r"Breakers$")).click()  # the sidebar's
    expect(cache).to_have_attribute("data-state", "closed")
    expect(page.locator("#breakers-overview")).to_contain_text("all 2 closed")
    expect(cache.locator(".breaker-history tr").first).to_contain_text("reset by ops-operators")
    cache.locator("details summary").click()
    expect(cache.locator("details pre")).to_contain_text('"state": "closed"')
    screenshot("closed")


def test_a_viewer_sees_the_breakers_without_a_button(page, cache_open, user_in, log_in, screenshot):
    log_in(user_in("Ops viewers"))
    page.goto("/admin/ops/breakers/")
    expect(page.locator('[data-breaker="cache"]')).to_have_attribute("data-state", "open")
    expect(page.locator("form[data-write]")).to_have_count(0)
    for control in ("Reset", "Half-open", "Force open"):
        expect(page.get_by_role("button", name=re.compile(rf"^{control}"))).to_have_count(0)
    screenshot("viewer")
