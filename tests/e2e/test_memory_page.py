"""The Memory page in a browser: every worker with its figures and the last hour's chart; an operator runs
"Collect garbage now" on one worker, which answers for itself on the run's page."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from opsadmin.models import Instance, InstanceWorker, MemorySample
from opsadmin.runtime import identity, memory
from opsadmin.spine import channel

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or, in CI, fails) with the reason
    expect = None

pytestmark = pytest.mark.sqlite  # one pass is enough: see tests/e2e/conftest.py

MiB = 1024 * 1024


@pytest.fixture
def fleet(transactional_db):
    """Another instance's worker, with published figures and an hour of samples beside the live server's own."""
    now = timezone.now()
    Instance.objects.create(id="web-2:8000", host="web-2", port="8000", started_at=now, last_seen_at=now)
    other = {**memory.figures(), "rss_bytes": 180 * MiB, "requests_served": 4321}
    other["limits"] = {"soft_bytes": 256 * MiB, "hard_bytes": 512 * MiB, "sample_every": 50}
    InstanceWorker.objects.create(
        instance_id="web-2:8000", pid=4242, started_at=now, last_seen_at=now, rss_bytes=180 * MiB, figures=other
    )
    MemorySample.objects.bulk_create(
        MemorySample(instance_id="web-2:8000", pid=4242, at=now - timedelta(minutes=m), rss_bytes=(150 + m) * MiB)
        for m in range(0, 60, 2)
    )


def publish_own_figures():
    """What the runtime's sampler does with each beat of the live server's process (this one)."""
    instance, pid = identity.this_process()
    InstanceWorker.objects.filter(instance_id=instance, pid=pid).update(figures=memory.figures())
    now = timezone.now()
    MemorySample.objects.bulk_create(
        MemorySample(instance_id=instance, pid=pid, at=now - timedelta(minutes=m), rss_bytes=(90 + m % 7) * MiB)
        for m in range(0, 60, 2)
    )
    return f"{instance} pid {pid}"


def test_an_operator_collects_garbage_in_one_worker(page, fleet, user_in, log_in, screenshot):
    log_in(user_in("Ops operators"))
    mine = publish_own_figures()
    page.reload()  # the dashboard again, now that this worker has published its figures
    expect(page.locator('[data-tile="memory"]')).to_be_visible()
    expect(page.locator('[data-tile="memory"]').locator("xpath=..")).to_contain_text("in 2 workers")
    screenshot("dashboard")
    page.get_by_role("link", name=re.compile(r"Memory$")).click()  # the sidebar's
    expect(page.locator("#memory-headline")).to_contain_text("in 2 workers")
    rows = page.locator("#memory-workers tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator('[data-process="web-2:8000 pid 4242"]')).to_contain_text("4,321")
    expect(page.locator("#memory-chart polyline")).to_have_count(3)
    expect(page.locator("#memory-machines tbody tr, #memory-machines tr[data-host]")).not_to_have_count(0)
    expect(page.locator("#memory-raw")).not_to_be_visible()
    screenshot("page")

    page.locator(f'[data-process="{mine}"] input[name=processes]').check()
    page.get_by_role("button", name="Collect garbage now").click()
    expect(page.locator("#run-summary")).to_contain_text("Queued")
    channel.tick()  # what this process's own thread does under runserver or gunicorn: take the work, answer
    page.reload()
    expect(page.locator("#run-outcome")).to_contain_text("1 of 1 process done: collected")
    expect(page.locator(f'#run-targets [data-process="{mine}"]')).to_contain_text("RSS")
    expect(page.locator("#run-targets tr[data-process]")).to_have_count(1)  # that worker only
    screenshot("run")


def test_a_viewer_sees_the_workers_without_controls(page, fleet, user_in, log_in, screenshot):
    log_in(user_in("Ops viewers"))
    page.goto("/admin/ops/memory/")
    expect(page.locator('[data-process="web-2:8000 pid 4242"]')).to_be_visible()
    expect(page.locator("input[name=processes]")).to_have_count(0)
    expect(page.get_by_role("button", name="Collect garbage now")).to_have_count(0)
    screenshot("workers")
    page.locator("details summary").click()
    expect(page.locator("#memory-raw")).to_contain_text('"this_process"')
    screenshot("viewer")
