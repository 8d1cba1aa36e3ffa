"""The rules on real signals: a breaker forced open, failed runs, workers over their soft limit, and this host's
request counters read from prometheus_client's multiprocess files, as gunicorn's workers write them."""

import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from django.utils import timezone

from opsadmin.models import AlertIncident, AlertRuleState, Instance, InstanceWorker, OpsRun
from opsadmin.operations.alerts import evaluator, request_metrics, rules
from opsadmin.runtime import breakers

pytestmark = pytest.mark.django_db


PROMETHEUS_RULES = Path(__file__).resolve().parents[3] / "docs" / "monitoring" / "alerts.yml"


def test_the_rules_are_the_prometheus_rules_by_name_and_severity():
    """An operator meets one alert under one name and one severity, whether Alertmanager or the portal sends it."""
    groups = yaml.safe_load(PROMETHEUS_RULES.read_text())["groups"]
    prometheus = {rule["alert"]: rule["labels"]["severity"] for group in groups for rule in group["rules"]}
    assert {rule.name: rule.severity for rule in rules.RULES} == prometheus


def open_keys():
    return sorted(AlertIncident.objects.filter(resolved_at__isnull=True).values_list("key", flat=True))


def states():
    return dict(AlertRuleState.objects.values_list("rule", "state"))


def test_a_breaker_forced_open_opens_its_incident_and_closing_it_resolves_it():
    breaker = breakers.get("cache")
    breaker.force_open("test")
    try:
        evaluator.evaluate()
        assert open_keys() == ["PortalBreakerOpen{breaker=cache}"]
        assert states()["PortalBreakerOpen"] == "firing"
    finally:
        breaker.reset("test")
    evaluator.evaluate()
    assert open_keys() == []
    assert states()["PortalBreakerOpen"] == "ok"


def test_a_failed_run_fires_for_its_operation_until_the_window_has_passed(settings):
    settings.PORTAL_ALERTS_FAILED_RUN_MINUTES = 15
    now = timezone.now()
    OpsRun.objects.create(operation="vacuum_tables", door="cli", actor="cli", status="failed", finished_at=now)
    OpsRun.objects.create(operation="clear_cache", door="cli", actor="cli", status="succeeded", finished_at=now)
    evaluator.evaluate(now)
    assert open_keys() == ["PortalOpsRunFailed{operation=vacuum_tables}"]
    evaluator.evaluate(now + timedelta(minutes=16))
    assert open_keys() == []


def test_a_worker_over_its_soft_limit_fires_and_without_any_limit_the_rule_says_it_is_not_evaluated(settings):
    now = timezone.now()
    Instance.objects.create(id="web-9:8000", host="web-9", port="8000", started_at=now, last_seen_at=now)
    limits = {"limits": {"soft_bytes": 100 * 1024**2}}
    worker = InstanceWorker.objects.create(
        instance_id="web-9:8000", pid=42, started_at=now, last_seen_at=now, rss_bytes=150 * 1024**2, figures=limits
    )
    evaluator.evaluate(now)
    assert open_keys() == ["PortalWorkerMemoryOverSoftLimit{process=web-9:8000 pid 42}"]
    assert "150.0 MiB, over its soft limit of 100.0 MiB" in AlertIncident.objects.get().summary

    worker.figures = {}
    worker.save()
    settings.PORTAL_MEMORY_SOFT_LIMIT = None
    evaluator.evaluate(now)
    state = AlertRuleState.objects.get(rule="PortalWorkerMemoryOverSoftLimit")
    assert (state.state, state.reason) == (
        "not evaluated",
        "no soft memory limit is set (PORTAL_MEMORY_SOFT_LIMIT) on any live process",
    )
    assert open_keys() == ["PortalWorkerMemoryOverSoftLimit{process=web-9:8000 pid 42}"]  # unknown is not resolved


def test_without_a_metrics_directory_the_request_rules_say_so(settings):
    settings.PORTAL_METRICS_DIR = ""
    evaluator.evaluate()
    for rule in ("PortalHighErrorRate", "PortalSlowRequests", "PortalRateLimitRejectionsSurging"):
        state = AlertRuleState.objects.get(rule=rule)
        assert state.state == "not evaluated"
        assert state.reason.startswith("PORTAL_METRICS_DIR is not set")


WRITER = textwrap.dedent(
    """
    import sys
    from prometheus_client import Counter, Histogram
    requests = Counter("portal_http_requests", "", ["route", "method", "status"])
    seconds = Histogram("portal_http_request_duration_seconds", "", ["route", "method", "status"],
                        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
    rejections = Counter("portal_rate_limit_rejections", "", ["tier", "window"])
    ok, errors, slow, refused = (int(n) for n in sys.argv[1:])
    for _ in range(ok):
        requests.labels("/api/stocks/", "GET", "200").inc(); seconds.labels("/api/stocks/", "GET", "200").observe(0.02)
    for _ in range(errors):
        requests.labels("/api/stocks/", "GET", "500").inc(); seconds.labels("/api/stocks/", "GET", "500").observe(0.02)
    for _ in range(slow):
        requests.labels("/admin/", "GET", "200").inc(); seconds.labels("/admin/", "GET", "200").observe(4.0)
    rejections.labels("free", "minute").inc(refused)
    """
)


def worker_served(directory, ok=0, errors=0, slow=0, refused=0):
    """A process in multiprocess mode (as a gunicorn worker is) counts these requests into `directory`."""
    environment = {"PROMETHEUS_MULTIPROC_DIR": str(directory), "PATH": "/usr/bin:/bin"}
    subprocess.run(
        [sys.executable, "-c", WRITER, str(ok), str(errors), str(slow), str(refused)], env=environment, check=True
    )


def test_the_request_rules_fire_on_rates_between_two_evaluations(settings, tmp_path):
    settings.PORTAL_METRICS_DIR = str(tmp_path)
    settings.PORTAL_ALERTS_ERROR_RATE_PERCENT = 5
    settings.PORTAL_ALERTS_LATENCY_P95_SECONDS = 1.0
    settings.PORTAL_ALERTS_REJECTIONS_PER_MINUTE = 60
    now = timezone.now()
    worker_served(tmp_path, ok=1000, errors=900, slow=900, refused=10_000)  # before the first reading: not counted
    evaluator.evaluate(now)
    assert states()["PortalHighErrorRate"] == "not evaluated"  # a first reading, rates from the next
    assert open_keys() == []

    worker_served(tmp_path, ok=95, errors=5)  # 5 % is not above 5 %; all fast; no refusal
    evaluator.evaluate(now + timedelta(seconds=30))
    assert states()["PortalHighErrorRate"] == states()["PortalSlowRequests"] == "ok"
    assert open_keys() == []

    worker_served(tmp_path, ok=80, errors=10, slow=10, refused=40)  # two workers' files, added up
    worker_served(tmp_path, ok=80, errors=10, slow=10, refused=40)
    evaluator.evaluate(now + timedelta(seconds=60))
    host = AlertRuleState.objects.values_list("evaluator", flat=True).first()
    assert open_keys() == [
        f"PortalHighErrorRate{{host={host}}}",
        f"PortalRateLimitRejectionsSurging{{host={host}}}",
        f"PortalSlowRequests{{host={host}}}",
    ]
    rate = AlertIncident.objects.get(rule="PortalHighErrorRate")
    assert rate.detail == {"value": 0.1, "threshold": 0.05}
    assert "10 % of requests" in rate.summary
    assert "(20 of 200 in 30.0 s)" in rate.summary
    surging = AlertIncident.objects.get(rule="PortalRateLimitRejectionsSurging")
    assert surging.detail["value"] == 160.0  # 80 refusals in 30 s

    worker_served(tmp_path, ok=100)
    evaluator.evaluate(now + timedelta(seconds=90))
    assert open_keys() == []


def test_a_window_is_none_after_the_counters_restarted():
    before = request_metrics.Totals(at="2026-03-02T09:00:00+00:00", requests=500, buckets={"+Inf": 500})
    after = request_metrics.Totals(at="2026-03-02T09:00:30+00:00", requests=20, buckets={"+Inf": 20})
    assert request_metrics.window(before, after) is None
    assert request_metrics.window(None, after) is None


@pytest.mark.parametrize(
    ("buckets", "p95"),
    [
        ({"0.1": 100, "0.5": 100, "+Inf": 100}, 0.095),  # all within the first bucket: interpolated from 0
        ({"0.1": 50, "0.5": 100, "+Inf": 100}, 0.46),
        ({"0.1": 0, "0.5": 0, "+Inf": 100}, 0.5),  # beyond the last bound: the last bound, as Prometheus says
        ({"0.1": 0, "+Inf": 0}, None),
    ],
)
def test_the_95th_percentile_is_interpolated_as_prometheus_does(buckets, p95):
    window = request_metrics.Window(30, 100, 0, buckets, 0)
    assert window.quantile(0.95) == pytest.approx(p95) if p95 is not None else window.quantile(0.95) is None
