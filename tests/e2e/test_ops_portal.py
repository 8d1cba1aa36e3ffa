"""The ops portal in a browser: an operator drains and resumes an instance; a viewer only looks."""

import re

import pytest

from opsadmin.runtime.heartbeat import record_heartbeat

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or, in CI, fails) with the reason
    expect = None

pytestmark = pytest.mark.sqlite  # one pass is enough: see tests/e2e/conftest.py

INSTANCE = "web-e2e:8000"
INSTANCES_URL = "/admin/opsadmin/instance/"
DRAIN_RUN = re.compile(r"\bdrain\b.*\bsucceeded\b.*\badmin\b", re.DOTALL | re.IGNORECASE)  # operation, status, door


@pytest.fixture
def instance(transactional_db):
    record_heartbeat("web-e2e", "8000", force=True)
    return INSTANCE


def instance_row(page, instance_id):
    """The change-list row of `instance_id`, found by its link (viewers have no checkboxes)."""
    return page.locator("#result_list tr.data-row").filter(has=page.get_by_role("link", name=instance_id, exact=True))


def run_action(page, instance_id, action):
    """On the instances change list: tick the instance, choose `action` in the action bar, run it."""
    page.locator(f'input.action-select[value="{instance_id}"]').check()
    page.locator('select[name="action"]').select_option(action)
    run = page.get_by_role("button", name="Run", exact=True)
    expect(run).to_be_visible()
    run.click()
    page.wait_for_url(f"**{INSTANCES_URL}")


def confirm(page):
    """Django's confirmation page: yes."""
    page.get_by_role("button", name="Yes, I'm sure").click()
    page.wait_for_url(f"**{INSTANCES_URL}")


def test_an_operator_drains_and_resumes_an_instance(page, instance, user_in, log_in, screenshot):
    log_in(user_in("Ops operators"))

    expect(page.locator("#health-checks")).to_be_visible()
    expect(page.locator('#health-checks tr[data-check="database"]')).to_contain_text("ok")
    expect(page.locator("#dashboard-instances")).to_contain_text(instance)
    screenshot("dashboard")

    page.goto("/admin/ops/health/")
    expect(page.get_by_role("heading", name="Readiness")).to_be_visible()
    expect(page.locator('#health-checks tr[data-check="draining"]')).to_contain_text("ok")
    screenshot("health")

    page.goto(INSTANCES_URL)
    expect(instance_row(page, instance)).to_contain_text("serving")
    run_action(page, instance, "Drain selected instances")
    expect(page.locator("#confirmation-action")).to_have_text("Drain 1 instance")
    expect(page.locator("#confirmation-items")).to_contain_text(f"{instance} (serving, 1 process")
    screenshot("drain-confirmation")
    confirm(page)
    expect(page.get_by_text(f"Drained {instance}")).to_be_visible()
    expect(instance_row(page, instance)).to_contain_text("draining")
    screenshot("drained")

    run_action(page, instance, "Resume selected instances")
    expect(page.get_by_text(f"Resumed {instance}")).to_be_visible()
    expect(instance_row(page, instance)).to_contain_text("serving")
    screenshot("resumed")

    page.goto("/admin/opsadmin/opsrun/")
    runs = page.locator("#result_list tr.data-row")
    expect(runs).to_have_count(2)
    for summary in (f"Drained {instance}", f"Resumed {instance}"):
        expect(runs.filter(has_text=summary)).to_contain_text(DRAIN_RUN)
    screenshot("runs")


def test_a_viewer_sees_the_dashboard_but_cannot_drain(page, instance, user_in, log_in, screenshot):
    log_in(user_in("Ops viewers"))

    expect(page.locator("#health-checks")).to_be_visible()
    expect(page.locator("#dashboard-instances")).to_contain_text(instance)

    page.goto(INSTANCES_URL)
    expect(instance_row(page, instance)).to_contain_text("serving")
    expect(page.get_by_text("Drain selected instances")).to_have_count(0)
    expect(page.locator('select[name="action"] option[value="drain"]')).to_have_count(0)
    screenshot("instances")
