"""Runs in a browser: a multi-step optimize reads as steps with durations; a running one shows its progress;
a queued one nobody will take says so; the audit log reads like a log."""

import re

import pytest
from django.utils import timezone

from opsadmin.models import OpsRun
from tests.helpers import run_write, sql

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or, in CI, fails) with the reason
    expect = None

pytestmark = pytest.mark.sqlite  # one pass is enough: see tests/e2e/conftest.py

DROPPED = ("stock_sector_cap_idx", "stock_movers_idx")  # declared indexes the optimize then builds again


@pytest.fixture
def optimized(transactional_db, ops_groups):
    """A real optimize that rebuilt two declared indexes and analyzed every table: several steps."""
    for name in DROPPED:
        sql(f'DROP INDEX "{name}"')
    run = run_write("optimize_database", {})
    assert run.status == "succeeded", run.error
    return run


def test_a_multi_step_optimize_reads_as_steps(page, optimized, user_in, log_in, screenshot):
    log_in(user_in("Ops viewers"))
    page.goto(f"/admin/opsadmin/opsrun/{optimized.pk}/change/")

    expect(page.locator("#run-title")).to_have_text(f"Optimize database indexes #{optimized.pk}")
    expect(page.locator("#run-summary")).to_contain_text("Succeeded")
    expect(page.locator("#run-times")).to_contain_text(optimized.requested_at.strftime("%Y-%m-%d %H:%M:%S"))
    steps = page.locator("#run-steps tbody tr")
    expect(steps).to_have_count(len(optimized.result["steps"]))
    for name in DROPPED:
        row = page.locator(f'#run-steps tr[data-step="{name}"]')
        expect(row).to_contain_text("create")
        expect(row).to_contain_text("done")
        expect(row).to_contain_text(f'CREATE INDEX "{name}"')
        expect(row.locator("td").nth(4)).to_have_text(re.compile(r"^\d[\d,.]* (ms|s)$"))  # how long it took
    expect(page.locator('#run-steps tr[data-step="stocks_dailybar"]')).to_contain_text("ANALYZE")
    arguments = page.locator("pre").filter(has_text='"indexes": []')
    expect(arguments).to_be_hidden()  # the raw arguments are folded away
    screenshot("optimize-steps")

    page.get_by_text("Show JSON").first.click()
    expect(arguments).to_contain_text('"dry_run": false')
    expect(arguments).to_be_visible()
    screenshot("details-open")


def test_a_running_run_shows_its_progress_and_a_stalled_one_says_why(
    page, transactional_db, user_in, log_in, screenshot
):
    running = OpsRun.objects.create(
        operation="optimize_database",
        title="Optimize database indexes",
        door="admin",
        actor="alice",
        target="task_worker",
        status=OpsRun.Status.RUNNING,
        started_at=timezone.now(),
        progress={
            "number": 3,
            "count": 8,
            "percent": 40,
            "message": "create stock_movers_idx (3 of 8): building index 40%",
        },
    )
    stalled = OpsRun.objects.create(
        operation="vacuum_tables", door="api", actor="bob", target="task_worker", status=OpsRun.Status.QUEUED
    )
    log_in(user_in("Ops viewers"))

    page.goto(f"/admin/opsadmin/opsrun/{running.pk}/change/")
    expect(page.locator("#run-progress")).to_contain_text("30 % — create stock_movers_idx (3 of 8)")
    expect(page.locator('#run-progress [role="progressbar"]')).to_have_attribute("aria-valuenow", "30.0")
    screenshot("running")

    page.goto(f"/admin/opsadmin/opsrun/{stalled.pk}/change/")
    expect(page.locator("#run-stalled")).to_contain_text("Not starting: no task worker has ever been seen")
    expect(page.locator("#run-title")).to_have_text(f"VACUUM (ANALYZE) tables #{stalled.pk}")
    screenshot("stalled")

    page.goto("/admin/")
    expect(page.locator("#runs-stalled")).to_contain_text(
        f"VACUUM (ANALYZE) tables #{stalled.pk} is stalled: no task worker has ever been seen"
    )
    screenshot("dashboard-stalled")

    page.goto("/admin/opsadmin/opsrun/")
    rows = page.locator("#result_list tr.data-row")
    expect(rows.first).to_contain_text(f"VACUUM (ANALYZE) tables #{stalled.pk}")  # newest request first
    expect(rows.first).to_contain_text(stalled.requested_at.strftime("%Y-%m-%d %H:%M:%S"))
    screenshot("audit-log")
