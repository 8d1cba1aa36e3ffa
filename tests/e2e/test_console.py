"""The console tells the truth at a glance: a drain is its own state with who, when and a Resume button;
task workers are not web instances; Redis down is named on the dashboard; a viewer sees no write control."""

import re
import socket

import pytest

from opsadmin.runtime import identity
from opsadmin.runtime.heartbeat import TASK, TASK_WORKER_PORT, record_heartbeat
from tests.helpers import run_write

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or, in CI, fails) with the reason
    expect = None

pytestmark = pytest.mark.sqlite  # one pass is enough: see tests/e2e/conftest.py

OTHER = "web-e2e:8000"
OPERATIONS = "/admin/ops/run/"  # where every write's form is
WRITE_CONTROLS = ("Drop", "Rebuild", "ANALYZE", "VACUUM", "Flush", "Optimize", "Clear", "Resume", "Drain", "Run")


@pytest.fixture
def fleet(transactional_db):
    """Another web instance, drained by alice, and a task worker beside them."""
    record_heartbeat("web-e2e", "8000", force=True)
    record_heartbeat("worker-e2e", TASK_WORKER_PORT, TASK, force=True)
    run = run_write("drain", {"instances": [OTHER], "action": "drain"})
    assert run.status == "succeeded", run.error
    identity.reset()  # the live server's first request names its own instance
    return OTHER


def test_a_drain_is_its_own_state_with_who_when_and_resume(page, fleet, user_in, log_in, screenshot):
    log_in(user_in("Ops operators"))
    row = page.locator(f'#dashboard-instances tr[data-instance="{OTHER}"]')
    expect(row).to_contain_text("draining")
    expect(row).to_contain_text("by cli:")
    expect(row).to_contain_text(" ago")
    expect(page.locator('[data-tile="instances"]')).to_contain_text("draining")  # its own colour, not failing
    expect(page.locator("#dashboard-instances")).not_to_contain_text("worker-e2e")  # no traffic goes there
    expect(page.locator("#task-workers")).to_contain_text("worker-e2e pid")
    screenshot("dashboard-drained")

    this_instance = identity.this_instance_id()
    run_write("drain", {"instances": [this_instance], "action": "drain"})
    health = page.locator('[data-tile="health"]')
    for _ in range(20):  # readiness reuses its verdict for PORTAL_READINESS_CACHE_SECONDS
        page.reload()
        if "draining" in health.inner_text():
            break
        page.wait_for_timeout(250)
    expect(health).to_contain_text("draining")
    expect(page.locator(".tile-detail").first).to_contain_text("load balancers get 503 until it is resumed")
    screenshot("dashboard-this-instance-drained")

    page.locator(f'[data-resume="{this_instance}"]').click()
    expect(page.locator("#run-outcome")).to_contain_text(f"Resumed {this_instance}")
    page.goto("/admin/")
    page.locator(f'[data-resume="{OTHER}"]').click()
    expect(page.locator("#run-outcome")).to_contain_text(f"Resumed {OTHER}")

    page.goto("/admin/opsadmin/instance/")
    expect(page.locator("#task-workers")).to_contain_text("worker-e2e pid")
    expect(page.locator("#result_list")).not_to_contain_text("worker-e2e")  # nothing to tick, nothing to drain
    screenshot("instances")
    page.get_by_role("link", name=OTHER, exact=True).click()
    expect(page.locator("#instance-state")).to_contain_text("serving")
    expect(page.locator("#instance-processes tr[data-pid]")).to_have_count(1)
    screenshot("instance")


def test_a_viewer_sees_no_write_controls_and_a_styled_refusal(page, fleet, user_in, log_in, screenshot):
    log_in(user_in("Ops viewers"))
    for path, shot in [
        ("/admin/", "dashboard"),
        ("/admin/ops/database/", "database"),
        ("/admin/ops/caches/", "caches"),
        ("/admin/ops/breakers/", "breakers"),
        ("/admin/opsadmin/instance/", "instances"),
        ("/admin/opsadmin/opsrun/", "runs"),
        ("/admin/stocks/stock/", "stocks"),
    ]:
        page.goto(path)
        expect(page.locator(f'a[href*="{OPERATIONS}"], form[action*="{OPERATIONS}"]')).to_have_count(0)
        for control in WRITE_CONTROLS:
            expect(page.get_by_role("button", name=re.compile(rf"^{control}\b"))).to_have_count(0)
        expect(page.locator('select[name="action"]')).to_have_count(0)  # no admin action either
        screenshot(shot)

    page.goto(f"{OPERATIONS}drop_indexes/")
    expect(page.locator("#refused")).to_contain_text("Drop indexes needs the permission")
    expect(page.get_by_role("link", name="Dashboard").first).to_be_visible()  # the admin around it, styled
    screenshot("refused")


def test_the_dashboard_names_redis_when_it_is_down(page, transactional_db, settings, user_in, log_in, screenshot):
    with socket.socket() as probe:  # a port nothing listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{port}/0",
        "KEY_PREFIX": "scanner",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
    }
    settings.CACHES = {**settings.CACHES, "default": down}  # pytest-django's: the cache handlers start afresh
    log_in(user_in("Ops viewers"))
    tile = page.locator('[data-tile="caches"]')
    expect(tile).to_contain_text("failing")
    expect(tile.locator("xpath=..")).to_contain_text(f"127.0.0.1:{port}")
    expect(tile.locator("xpath=..")).to_contain_text("refused")
    screenshot("redis-down")
