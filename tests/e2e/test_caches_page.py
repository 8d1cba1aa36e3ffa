"""The Caches page in a browser: an operator clears one alias and sees its count drop, the other's stay."""

import re

import pytest
from django.core.cache import caches

from opsadmin.spine import channel

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or, in CI, fails) with the reason
    expect = None

pytestmark = pytest.mark.sqlite  # one pass is enough: see tests/e2e/conftest.py


def test_an_operator_clears_an_alias_and_sees_the_count_drop(page, user_in, log_in, screenshot):
    # The live server runs in this process, so it sees these local-memory entries.
    caches["default"].set_many({f"screen:{number}": number for number in range(25)})
    caches["ratelimit"].set_many({f"user:{number}": number for number in range(3)})
    log_in(user_in("Ops operators"))

    page.get_by_role("link", name="Cache aliases").click()
    default = page.locator('[data-alias="default"]')
    # 25 of ours, and the dashboard's health check may have left one of its own.
    expect(default.locator(".keys-under-prefix")).to_contain_text(re.compile(r"^2[56] under this prefix"))
    expect(page.locator("#sessions-note")).to_contain_text("Sessions are not kept in a cache")
    ratelimit_before = page.locator('[data-alias="ratelimit"] .keys-under-prefix').inner_text()
    assert int(ratelimit_before.split()[0]) >= 3
    screenshot("caches-before")

    default.get_by_role("link", name="Clear default…").click()
    page.get_by_role("button", name="Run").click()
    # Local memory lives in every web process: the clear goes to each, after a confirmation naming them.
    expect(page.locator("#confirmation-action")).to_contain_text("Delete the keys of default")
    expect(page.locator("#confirmation-size")).to_contain_text("1 process on 1 instance")
    screenshot("clear-confirmation")
    page.get_by_role("button", name="Yes, I'm sure").click()
    expect(page.locator("#run-summary")).to_contain_text("Queued")
    channel.tick()  # what this process's own thread does under runserver or gunicorn: take the work, answer
    page.reload()
    expect(page.locator("#run-outcome")).to_contain_text(re.compile(r"1 of 1 process done: Deleted 2[56] keys"))
    expect(page.locator("#run-targets")).to_contain_text("Succeeded")
    screenshot("cleared-run")

    page.goto("/admin/ops/caches/")
    expect(page.locator('[data-alias="default"] .keys-under-prefix')).to_contain_text("0 under this prefix")
    expect(page.locator('[data-alias="ratelimit"] .keys-under-prefix')).to_have_text(ratelimit_before)
    screenshot("caches-after")


def test_a_viewer_reads_the_caches_page_without_its_controls(page, user_in, log_in, screenshot):
    log_in(user_in("Ops viewers"))
    page.get_by_role("link", name="Cache aliases").click()
    expect(page.locator('[data-alias="default"]')).to_be_visible()
    expect(page.get_by_role("link", name="Clear default…")).to_have_count(0)
    screenshot("caches-viewer")
