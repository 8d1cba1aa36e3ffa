"""The Alerts page in a browser: an operator acknowledges the open incident of a breaker forced open, and a viewer
sees the same incidents without a control."""

import re

import pytest
from django.utils import timezone

from opsadmin.models import AlertIncident, OpsRun
from opsadmin.operations.alerts import evaluator
from opsadmin.runtime import breakers
from tests.opsadmin.alerts.receiver import Receiver

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or, in CI, fails) with the reason
    expect = None

pytestmark = pytest.mark.sqlite  # one pass is enough: see tests/e2e/conftest.py

KEY = "PortalBreakerOpen{breaker=cache}"


@pytest.fixture
def incidents_open(transactional_db, settings):
    """The cache breaker forced open and an ops run failed, evaluated as the task worker does, the opening
    messages delivered to a webhook receiver."""
    breaker = breakers.get("cache")
    breaker.force_open("ops-operator")
    OpsRun.objects.create(
        operation="vacuum_tables",
        title="Vacuum tables",
        door="cli",
        actor="cli",
        status="failed",
        finished_at=timezone.now(),
    )
    with Receiver() as hook:
        settings.PORTAL_ALERTS_WEBHOOK_URL = hook.url
        settings.PORTAL_ALERTS_EMAIL_TO = []
        evaluator.evaluate()
        assert sorted(hook.kinds()) == ["opened", "opened"]
        yield hook
    breaker.reset("test")


def test_an_operator_acknowledges_the_open_incident(page, incidents_open, user_in, log_in, screenshot):
    log_in(user_in("Ops operators"))
    page.get_by_role("link", name=re.compile(r"Incidents$")).click()  # the sidebar's
    expect(page.locator("#alerts-headline")).to_have_text("2 open")
    expect(page.locator("#alerts-overview")).to_have_attribute("data-status", "warning")
    rows = page.locator("#open-incidents > tbody")
    expect(rows).to_have_count(2)
    cache = page.locator(f'tbody[data-key="{KEY}"]')
    expect(rows.first).to_have_attribute("data-key", KEY)  # equal severities: the older first (its rule ran first)
    expect(cache).to_have_attribute("data-state", "open")
    expect(cache.locator(".incident-summary")).to_contain_text("cache breaker open")
    expect(cache.locator(".incident-deliveries")).to_contain_text("sent")
    expect(cache.locator("details pre")).not_to_be_visible()  # the raw JSON waits behind its toggle
    expect(page.locator('[data-rule="PortalHighErrorRate"] .rule-reason')).to_contain_text(
        "PORTAL_METRICS_DIR is not set"
    )
    screenshot("open")

    cache.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("#run-summary")).to_contain_text("Acknowledged incident #")
    page.get_by_role("link", name=re.compile(r"Incidents$")).click()
    expect(cache).to_have_attribute("data-state", "acknowledged")
    expect(cache.locator(".incident-acknowledged")).to_contain_text("Acknowledged by ops-operators")
    expect(cache.get_by_role("button", name="Acknowledge")).to_have_count(0)
    expect(page.locator("#alerts-overview")).to_have_attribute("data-status", "warning")  # someone is on it
    cache.locator("details summary").click()
    expect(cache.locator("details pre")).to_contain_text('"acknowledged_by": "ops-operators"')
    screenshot("acknowledged")

    incident = AlertIncident.objects.get(key=KEY)
    assert incident.acknowledged_by == "ops-operators"
    assert incident.acknowledged_at is not None


def test_a_viewer_sees_the_incidents_without_a_control(page, incidents_open, user_in, log_in, screenshot):
    log_in(user_in("Ops viewers"))
    page.goto("/admin/ops/alerts/")
    expect(page.locator("#open-incidents > tbody")).to_have_count(2)
    expect(page.locator("form[data-write]")).to_have_count(0)
    for control in ("Acknowledge", "Silence", "Evaluate now"):
        expect(page.get_by_role("button", name=re.compile(rf"^{control}"))).to_have_count(0)
    screenshot("viewer")
