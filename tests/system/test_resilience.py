"""Outages under load, with real PostgreSQL, Redis and gunicorn: the portal answers fast with 503s while the
database is out, its probes never starve, and it recovers by itself, with no worker restarted.

Two gunicorn workers with the production configuration serve staff pages and the ops API to a
bounded stream of clients while a prober asks the probes' own listener, as a load balancer would
(tests/system/traffic.py). Each test stops, hangs (SIGSTOP) or kills a server under that stream and
checks every answer recorded around it.
"""

import time

import pytest

from tests.services import postgres_unavailable, redis_unavailable, skip_or_fail
from tests.system.traffic import Traffic, served_portal

pytestmark = pytest.mark.sqlite  # brings its own PostgreSQL and Redis: runs once, in the SQLite pass

RESET = 3  # seconds the database breaker stays open before its trial (PORTAL_BREAKER_DATABASE_RESET_SECONDS)
STATEMENT_TIMEOUT = "2s"  # web requests' statement budget here (PORTAL_DB_STATEMENT_TIMEOUT)
BOUND = 1.0  # every answer during an outage, and every probe, within a second...
MARGIN = 0.5  # ...give or take a loaded shared machine
RECOVERED = RESET + 2  # after the server is back, all requests succeed within the reset timeout plus 2 s
WARM = 2.0


@pytest.fixture
def stack(tmp_path):
    for reason in (postgres_unavailable(), redis_unavailable()):
        if reason:
            skip_or_fail(reason)
    with served_portal(
        tmp_path,
        PORTAL_BREAKER_DATABASE_RESET_SECONDS=str(RESET),
        PORTAL_DB_STATEMENT_TIMEOUT=STATEMENT_TIMEOUT,
    ) as stack:
        yield stack


def assert_healthy(answers, what):
    assert answers, f"no requests {what}"
    failed = [answer for answer in answers if answer.status != 200]
    assert not failed, f"{len(failed)} of {len(answers)} requests failed {what}: {failed[:5]}"


def assert_fast_and_honest(answers, what):
    """Within the bound; 200, or 503 with Retry-After; never a 500, never no answer."""
    assert answers, f"no requests {what}"
    slow = [answer for answer in answers if answer.seconds > BOUND + MARGIN]
    assert not slow, f"{len(slow)} of {len(answers)} requests {what} took over {BOUND} s: {slow[:5]}"
    wrong = [answer for answer in answers if answer.status not in (200, 503)]
    assert not wrong, f"{len(wrong)} requests {what} answered otherwise: {wrong[:5]}"
    unexplained = [answer for answer in answers if answer.status == 503 and not answer.retry_after]
    assert not unexplained, f"503s without Retry-After {what}: {unexplained[:5]}"


def through(stack, take_away, bring_back, seconds):
    """Traffic through WARM s of health, `seconds` with a server taken away, and RECOVERED + 3 s after it is back;
    (traffic, when it was taken away, when it was back, the end)."""
    with Traffic(stack) as traffic:
        time.sleep(WARM)
        away = time.monotonic()
        take_away()
        time.sleep(seconds)
        bring_back()
        back = time.monotonic()
        time.sleep(RECOVERED + 3)
    return traffic, away, back, time.monotonic()


def test_postgresql_stopped_hard(stack):
    workers = stack.workers()
    # A crash: every connection cut at once.
    traffic, stopped, started, end = through(stack, lambda: stack.postgres.stop("immediate"), stack.postgres.start, 6)

    assert_healthy(traffic.finished_before(stopped), "before the outage")
    during = traffic.between(stopped, started)
    assert_fast_and_honest(during, "while PostgreSQL was down")
    assert any(answer.status == 503 for answer in during if answer.kind != "probe")
    ready = [answer.status for answer in traffic.between(stopped + 1, started, "probe") if "ready" in answer.path]
    assert ready, "no readiness probes while PostgreSQL was down"
    assert set(ready) == {503}
    assert_healthy(traffic.between(started + RECOVERED, end), f"{RECOVERED} s after PostgreSQL was back")
    assert stack.workers() == workers, "a worker was restarted"


def test_postgresql_hung(stack):
    workers = stack.workers()
    traffic, paused, resumed, end = through(stack, stack.postgres.pause, stack.postgres.resume, 10)

    assert_healthy(traffic.finished_before(paused), "before the hang")
    probes = traffic.between(paused, resumed, "probe")
    assert_fast_and_honest(probes, "to the probes while PostgreSQL hung")
    assert {answer.status for answer in probes if "live" in answer.path} == {200}
    requests = traffic.between(paused, resumed, "page", "api")
    budget = 2 + 1 + BOUND + MARGIN  # the statement budget, the deadline's grace, then the 503 itself
    slow = [answer for answer in requests if answer.seconds > budget]
    assert not slow, f"requests outlived their budget while PostgreSQL hung: {slow[:5]}"
    assert {answer.status for answer in requests} <= {200, 503}
    assert_healthy(traffic.between(resumed + RECOVERED, end), f"{RECOVERED} s after PostgreSQL resumed")
    assert stack.workers() == workers, "a worker was restarted"


def test_redis_killed_and_restarted_then_hung(stack):
    workers = stack.workers()
    with Traffic(stack) as traffic:
        time.sleep(WARM)
        killed = time.monotonic()
        stack.redis.kill()
        time.sleep(4)
        stack.redis.start()
        time.sleep(4)
        stack.redis.pause()
        time.sleep(6)
        stack.redis.resume()
        resumed = time.monotonic()
        time.sleep(3)
        end = time.monotonic()

    assert_healthy(traffic.between(0, end, "page", "api"), "while Redis was killed, restarted and hung")
    probes = traffic.between(killed, resumed, "probe")
    assert_fast_and_honest(probes, "to the probes while Redis was out")
    unready = [answer for answer in probes if answer.status != 200]
    assert not unready, f"degraded is still ready, but {len(unready)} probes answered otherwise: {unready[:5]}"
    assert stack.workers() == workers, "a worker was restarted"
