"""An alert opens once and resolves once: the portal under gunicorn on real PostgreSQL and Redis, its task worker
(`manage.py ops_worker`) evaluating every second, and a webhook receiver on a local port.

An operator opens the cache's circuit breaker through the ops API (its state is the fleet's, in Redis, where the
task worker reads it), then resets it. Across many evaluations the receiver gets exactly one "opened" message
about PortalBreakerOpen{breaker=cache}, and after the reset exactly one "resolved".
"""

import json
import subprocess
import sys
import time

import pytest

from tests.opsadmin.alerts.receiver import Receiver
from tests.services import REPO, http, postgres_unavailable, redis_unavailable, skip_or_fail, stop_process
from tests.system.test_worker_outage import query, wait_for
from tests.system.traffic import served_portal

pytestmark = pytest.mark.sqlite  # runs once, in the SQLite pass: it brings its own PostgreSQL and Redis

KEY = "PortalBreakerOpen{breaker=cache}"
EVALUATIONS_WATCHED = 5  # seconds of evaluations (one a second) in which no second message may come


def api(stack, path, body):
    headers = {"Authorization": f"Bearer {stack.token}", "Content-Type": "application/json"}
    status, answer, _ = http(stack.port, path, method="POST", body=json.dumps(body), headers=headers)
    assert status == 200, answer
    return json.loads(answer)


@pytest.fixture
def servers_available():
    for reason in (postgres_unavailable(), redis_unavailable()):
        if reason:
            skip_or_fail(reason)


def test_a_breaker_opening_and_closing_sends_one_opened_and_one_resolved_message(servers_available, tmp_path):
    with (
        Receiver() as hook,
        served_portal(
            tmp_path,
            PORTAL_ALERTS_WEBHOOK_URL=hook.url,
            PORTAL_ALERTS_EVALUATE_SECONDS="1",
            PORTAL_METRICS_DIR=str(tmp_path / "metrics"),
            PORTAL_BREAKER_CACHE_RESET_SECONDS="600",  # no trial call closes it before the operator does
        ) as stack,
    ):
        log = tmp_path / "worker.log"
        command = [sys.executable, "manage.py", "ops_worker", "--no-reload", "--no-startup-delay"]
        with open(log, "wb") as output:
            worker = subprocess.Popen(
                command,
                cwd=REPO,
                env={**stack.environment, "PYTHONUNBUFFERED": "1"},
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        database = stack.environment["DATABASE_URL"]
        try:
            evaluated = "SELECT state FROM opsadmin_alertrulestate WHERE rule = 'PortalBreakerOpen'"
            wait_for(lambda: query(database, evaluated) == [("ok",)], "a first evaluation", worker, log)

            api(stack, "/api/ops/breakers/open_breaker/", {"name": "cache"})
            assert hook.wait_for(1, KEY) == ["opened"], log.read_text()[-3000:]
            time.sleep(EVALUATIONS_WATCHED)
            assert hook.kinds(KEY) == ["opened"]
            opened = next(body for body in hook.bodies if body.get("groupKey") == KEY)
            assert opened["status"] == "firing"
            assert opened["alerts"][0]["labels"] == {
                "alertname": "PortalBreakerOpen",
                "severity": "warning",
                "breaker": "cache",
            }

            api(stack, "/api/ops/breakers/reset_breaker/", {"name": "cache"})
            assert hook.wait_for(2, KEY) == ["opened", "resolved"], log.read_text()[-3000:]
            time.sleep(EVALUATIONS_WATCHED)
            assert hook.kinds(KEY) == ["opened", "resolved"]

            incidents = query(
                database, f"SELECT resolved_at IS NOT NULL, reminders FROM opsadmin_alertincident WHERE key = '{KEY}'"
            )
            assert incidents == [(True, 0)]
            deliveries = query(
                database, "SELECT kind, channel, status, attempts FROM opsadmin_alertdelivery ORDER BY id"
            )
            assert deliveries == [("opened", "webhook", "sent", 1), ("resolved", "webhook", "sent", 1)]
            # This host's request counters are read from the metrics directory gunicorn writes to.
            reasons = query(database, "SELECT reason FROM opsadmin_alertrulestate WHERE rule = 'PortalHighErrorRate'")
            assert reasons == [("",)] or "PORTAL_METRICS_DIR is not set" not in reasons[0][0]
        finally:
            stop_process(worker)
    assert "Traceback" not in log.read_text()
