"""API tokens in a browser: an administrator issues an ops token for an operator, copies it from the page (shown
once), and the token opens the ops API as that operator."""

import re

import pytest

from portal.accounts.models import ApiToken

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or, in CI, fails) with the reason
    expect = None

pytestmark = pytest.mark.sqlite  # one pass is enough: see tests/e2e/conftest.py

TOKEN = re.compile(r"ops token for ops-operators: (\S+) — copy it now; it is not shown again\.")


def test_an_administrator_issues_an_ops_token_that_opens_the_api(page, user_in, log_in, screenshot):
    operator = user_in("Ops operators")
    log_in(user_in(username="admin", superuser=True))
    page.get_by_role("link", name="API tokens").click()  # the sidebar's
    page.locator('a[href$="/admin/accounts/apitoken/add/"]').first.click()  # the list's "+"
    page.locator("#id_user").locator("xpath=..").locator(".select2-selection").click()  # the user's autocomplete
    page.locator(".select2-search__field").fill(operator.username)
    page.locator(".select2-results__option", has_text=operator.username).click()
    page.locator("#id_name").fill("deploy script")
    expect(page.locator("#id_scope")).to_have_value("ops")
    screenshot("add")
    page.get_by_role("button", name="Save", exact=True).click()

    message = page.locator("#content, body").get_by_text(TOKEN).first
    expect(message).to_be_visible()
    token = TOKEN.search(message.inner_text()).group(1)
    row = page.locator("#result_list tbody tr").filter(has_text="deploy script")
    expect(row).to_contain_text("works")
    screenshot("created")
    assert ApiToken.objects.get(name="deploy script").user == operator

    answer = page.request.get("/api/ops/status/", headers={"Authorization": f"Bearer {token}"})
    assert answer.status == 200, answer.text()
    assert "sections" in answer.json()
    refused = page.request.get("/api/ops/status/", headers={"Authorization": "Bearer not-a-token"})
    assert refused.status == 401
