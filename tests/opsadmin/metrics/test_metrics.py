"""/metrics: who may scrape it, and what it says, read back with the Prometheus client's own parser.

Values in one process's registry live as long as the process: each test compares a scrape after with
one before. Counting across gunicorn workers is tests/system/test_metrics_fleet.py.
"""

from datetime import timedelta
from ipaddress import ip_network

import pytest
from django.db import DatabaseError
from django.tasks import TaskResultStatus
from django.test import Client, override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from prometheus_client.parser import text_string_to_metric_families

from opsadmin.models import Instance, InstanceWorker, OpsRun
from opsadmin.operations.instances.drain import drain_or_resume
from opsadmin.runtime import drain
from opsadmin.runtime.identity import this_instance_id
from opsadmin.runtime.metrics import scrape
from opsadmin.spine.runs import Actor, record
from opsadmin.tasks import perform_run
from portal.accounts.models import ApiToken
from portal.accounts.tokens import issue_token, revoke_tokens
from tests.helpers import VIEWERS, bearer, client_for, user_in

pytestmark = pytest.mark.django_db

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@pytest.fixture(autouse=True)
def _fresh_fleet_figures():
    scrape.forget()
    yield
    scrape.forget()


@pytest.fixture
def viewer_token():
    return issue_token(user_in(VIEWERS, username="prometheus"), "prometheus")[1]


def scraped(client=None, **headers):
    """{sample name: [(labels, value)]} of one scrape (the response must be 200)."""
    response = (client or Client()).get("/metrics", **headers)
    assert response.status_code == 200, response.content
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def total(samples, name, **labels):
    """The sum of `name`'s samples whose labels include `labels` (0 when there are none)."""
    return sum(value for found, value in samples.get(name, []) if labels.items() <= found.items())


# --- Access ---------------------------------------------------------------------------------------------


def test_no_credentials_is_refused_with_the_policys_json(client):
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response.json() == {"error": "authentication required"}
    assert response["WWW-Authenticate"] == 'Bearer realm="ops"'
    assert response["Cache-Control"] == "no-store"


def test_a_viewers_token_scrapes(client, viewer_token):
    response = client.get("/metrics", **bearer(viewer_token))
    assert response.status_code == 200
    assert response["Content-Type"] == PROMETHEUS_TEXT
    assert response["Cache-Control"] == "no-store"
    assert b"portal_http_requests_total" in response.content


def test_a_viewers_session_scrapes():
    assert scraped(client_for(user_in(VIEWERS, username="watcher")))


@pytest.mark.parametrize(
    ("who", "error"),
    [
        ("staff without view_ops", "permission required"),
        ("not staff, with view_ops", "staff only"),
        ("a scanner token", "token not valid for the ops API"),
    ],
)
def test_a_token_that_may_not_read_ops_is_forbidden(client, who, error):
    if who == "staff without view_ops":
        token = issue_token(user_in(username="staff"), "t")[1]
    elif who == "not staff, with view_ops":
        token = issue_token(user_in(username="member", staff=False, permissions=["view_ops"]), "t")[1]
    else:
        token = issue_token(user_in(VIEWERS, username="scanner"), "t", scope=ApiToken.Scope.SCANNER)[1]
    response = client.get("/metrics", **bearer(token))
    assert response.status_code == 403
    assert response.json()["error"] == error


def test_a_revoked_token_is_refused(client):
    record_, token = issue_token(user_in(VIEWERS, username="gone"), "old")
    revoke_tokens(ApiToken.objects.filter(pk=record_.pk))
    assert client.get("/metrics", **bearer(token)).status_code == 401


@override_settings(PORTAL_METRICS_ALLOWED_ADDRESSES=[ip_network("10.0.0.0/8"), ip_network("::1/128")])
@pytest.mark.parametrize(("address", "status"), [("10.1.2.3", 200), ("::1", 200), ("192.0.2.7", 401)])
def test_an_allowed_address_scrapes_without_credentials(address, status):
    assert Client(REMOTE_ADDR=address).get("/metrics").status_code == status


@override_settings(PORTAL_METRICS_ALLOWED_ADDRESSES=[ip_network("10.0.0.0/8")])
def test_credentials_from_an_allowed_address_are_still_checked():
    revoked, token = issue_token(user_in(VIEWERS, username="gone"), "old")
    revoke_tokens(ApiToken.objects.filter(pk=revoked.pk))
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics", **bearer(token)).status_code == 401


@override_settings(PORTAL_METRICS_ALLOWED_ADDRESSES=[ip_network("10.0.0.0/8")])
def test_a_forwarded_address_counts_only_behind_our_proxy():
    """The proxy's own entry (the last) is the client; entries before it are the client's to invent."""
    proxy = Client(REMOTE_ADDR="192.0.2.1")
    assert proxy.get("/metrics", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 401  # no proxy configured
    with override_settings(PORTAL_BEHIND_PROXY=True):
        assert proxy.get("/metrics", HTTP_X_FORWARDED_FOR="198.51.100.4, 10.1.2.3").status_code == 200
        assert proxy.get("/metrics", HTTP_X_FORWARDED_FOR="10.1.2.3, 198.51.100.4").status_code == 401


def test_only_reads(client, viewer_token):
    response = client.post("/metrics", **bearer(viewer_token))
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert "error" in response.json()


def test_openmetrics_when_asked(client, viewer_token):
    response = client.get("/metrics", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0", **bearer(viewer_token))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.endswith(b"# EOF\n")


# --- What it says ---------------------------------------------------------------------------------------


def test_requests_are_counted_by_route_pattern_never_the_path(client, viewer_token):
    before = scraped(**bearer(viewer_token))
    for run_id in (987654, 987655):
        assert client.get(f"/api/ops/runs/{run_id}/", **bearer(viewer_token)).status_code == 404
    assert client.get("/no/such/page/").status_code == 404
    after = scraped(**bearer(viewer_token))

    routes = {labels["route"] for labels, _ in after["portal_http_requests_total"]}
    assert not any("98765" in route for route in routes)
    run_route = next(route for route in routes if route.startswith("/api/ops/runs/<"))
    name, labels = "portal_http_requests_total", {"route": run_route, "method": "GET", "status": "404"}
    assert total(after, name, **labels) - total(before, name, **labels) == 2
    unmatched = {"route": "unmatched", "status": "404"}
    assert total(after, name, **unmatched) - total(before, name, **unmatched) == 1
    latency = "portal_http_request_duration_seconds_count"
    assert total(after, latency, **labels) - total(before, latency, **labels) == 2


def test_requests_no_server_sent_are_not_traffic(client, viewer_token):
    """The security checklist's audit (and the master's warm-up) mark their requests: not counted."""
    from opsadmin.operations.security import probe

    labels = {"route": "unmatched", "status": "404"}
    before = total(scraped(**bearer(viewer_token)), "portal_http_requests_total", **labels)
    assert probe.get("/no/such/page/").status_code == 404
    assert total(scraped(**bearer(viewer_token)), "portal_http_requests_total", **labels) == before


def test_the_scrape_itself_is_counted_at_the_next(viewer_token):
    labels = {"route": "/metrics", "method": "GET", "status": "200"}
    first = total(scraped(**bearer(viewer_token)), "portal_http_requests_total", **labels)
    second = total(scraped(**bearer(viewer_token)), "portal_http_requests_total", **labels)
    assert second == first + 1


def test_database_statements_are_counted_and_timed(client, viewer_token):
    before = scraped(**bearer(viewer_token))
    list(OpsRun.objects.all()[:1])
    after = scraped(**bearer(viewer_token))
    name = "portal_db_query_duration_seconds_count"
    assert total(after, name, alias="default") > total(before, name, alias="default")
    assert total(after, "portal_db_query_duration_seconds_sum", alias="default") > 0


def test_every_breaker_has_exactly_one_state(viewer_token):
    samples = scraped(**bearer(viewer_token))
    for breaker in ("database", "cache"):
        states = {
            labels["state"]: value for labels, value in samples["portal_breaker_state"] if labels["breaker"] == breaker
        }
        assert states == {"closed": 1, "open": 0, "half-open": 0}


def test_ops_runs_by_operation_and_status(viewer_token):
    for _ in range(2):
        record("issue_token", "Issue a token", actor=Actor.cli(), door=OpsRun.Door.CLI, arguments={}, summary="ok")
    record(
        "issue_token",
        "Issue a token",
        actor=Actor.cli(),
        door=OpsRun.Door.CLI,
        arguments={},
        summary="no",
        status=OpsRun.Status.FAILED,
    )
    OpsRun.objects.create(operation="optimize_indexes", door=OpsRun.Door.CLI, actor="cli", status=OpsRun.Status.RUNNING)
    samples = scraped(**bearer(viewer_token))
    assert total(samples, "portal_ops_runs_total", operation="issue_token", status="succeeded") == 2
    assert total(samples, "portal_ops_runs_total", operation="issue_token", status="failed") == 1
    assert total(samples, "portal_ops_runs_unfinished", operation="optimize_indexes", status="running") == 1
    assert total(samples, "portal_ops_runs_total", operation="optimize_indexes") == 0


def test_the_fleet_figures_are_read_at_most_every_few_seconds(viewer_token):
    """Each is a GROUP BY on a table that grows: any number of scrapes within FLEET_SECONDS costs one."""
    runs = total(scraped(**bearer(viewer_token)), "portal_ops_runs_total")  # issuing the token was audited
    record("issue_token", "Issue a token", actor=Actor.cli(), door=OpsRun.Door.CLI, arguments={}, summary="ok")
    assert total(scraped(**bearer(viewer_token)), "portal_ops_runs_total") == runs
    scrape.forget()
    assert total(scraped(**bearer(viewer_token)), "portal_ops_runs_total") == runs + 1


def test_task_queue_depth(viewer_token):
    perform_run.enqueue(1)
    perform_run.enqueue(2)
    assert DBTaskResult.objects.filter(status=TaskResultStatus.READY).count() == 2
    assert total(scraped(**bearer(viewer_token)), "portal_task_queue_depth", queue="default") == 2


def test_when_a_task_worker_last_beat(viewer_token):
    """0 while none is known (one that stopped cleanly deleted its row), else the latest beat of any."""
    name = "portal_task_worker_last_seen_timestamp_seconds"
    assert scraped(**bearer(viewer_token))[name] == [({}, 0)]
    now = timezone.now()
    host = Instance.objects.create(id="tasks-1:worker", host="tasks-1", port="worker", started_at=now, last_seen_at=now)
    for pid, seen_ago in ((41, 90), (42, 3)):
        seen = now - timedelta(seconds=seen_ago)
        InstanceWorker.objects.create(instance=host, pid=pid, kind="task", started_at=now, last_seen_at=seen)
    scrape.forget()
    assert scraped(**bearer(viewer_token))[name] == [({}, (now - timedelta(seconds=3)).timestamp())]


def test_memory_limits_as_configured(viewer_token, settings):
    settings.PORTAL_MEMORY_SOFT_LIMIT, settings.PORTAL_MEMORY_HARD_LIMIT = 512 * 1024**2, None
    assert scraped(**bearer(viewer_token))["portal_worker_memory_limit_bytes"] == [({"limit": "soft"}, 512 * 1024**2)]
    settings.PORTAL_MEMORY_SOFT_LIMIT, settings.PORTAL_MEMORY_HARD_LIMIT = None, 1024**3
    assert scraped(**bearer(viewer_token))["portal_worker_memory_limit_bytes"] == [({"limit": "hard"}, 1024**3)]
    settings.PORTAL_MEMORY_HARD_LIMIT = None
    assert "portal_worker_memory_limit_bytes" not in scraped(**bearer(viewer_token))


def test_draining_as_this_instance_sees_it(client, viewer_token):
    client.get("/admin/login/")  # the first request of a process names its instance
    assert scraped(**bearer(viewer_token))["portal_draining"] == [({}, 0)]
    drain_or_resume(instances=[this_instance_id()], action="drain", actor="alice")
    assert scraped(**bearer(viewer_token))["portal_draining"] == [({}, 1)]


def test_the_drain_state_is_left_out_while_the_database_does_not_answer(viewer_token, monkeypatch):
    def database_down():
        raise DatabaseError("connection refused")

    monkeypatch.setattr(drain, "current_instance_is_draining", database_down)
    samples = scraped(**bearer(viewer_token))
    assert "portal_draining" not in samples
    assert "portal_breaker_state" in samples


def test_readiness_verdicts(client, viewer_token):
    before = scraped(**bearer(viewer_token))
    response = client.get("/health/ready/")
    status = response.json()["status"]
    after = scraped(**bearer(viewer_token))
    name = "portal_readiness_verdicts_total"
    assert total(after, name, status=status) == total(before, name, status=status) + 1
    assert {labels["status"]: value for labels, value in after["portal_readiness"]} == {
        "ok": status == "ok",
        "degraded": status == "degraded",
        "unavailable": status == "unavailable",
    }


def test_worker_memory_at_each_beat(client, viewer_token):
    client.get("/admin/login/")  # the first request of a process makes it beat
    [(_, rss)] = scraped(**bearer(viewer_token))["portal_worker_resident_memory_bytes"]
    assert rss > 10 * 1024 * 1024


def test_rate_limit_rejections_by_tier(client, viewer_token, settings):
    settings.PORTAL_RATE_LIMITS = {**settings.PORTAL_RATE_LIMITS, "anonymous": {"minute": 1, "day": 100}}
    before = scraped(**bearer(viewer_token))
    statuses = [client.get("/api/stocks/").status_code for _ in range(3)]
    assert statuses == [200, 429, 429]
    after = scraped(**bearer(viewer_token))
    name = "portal_rate_limit_rejections_total"
    assert total(after, name, tier="anonymous", window="minute") - total(before, name, tier="anonymous") == 2


@pytest.mark.redis
def test_redis_cache_calls_by_operation_and_outcome(viewer_token):
    from django.core.cache import cache

    name = "portal_cache_call_duration_seconds_count"
    before = scraped(**bearer(viewer_token))
    cache.set("metrics-test", 1)
    cache.get("metrics-test")
    cache.get("metrics-test")
    after = scraped(**bearer(viewer_token))
    for operation, calls in (("set", 1), ("get", 2)):
        labels = {"operation": operation, "outcome": "ok"}
        assert total(after, name, **labels) - total(before, name, **labels) >= calls
