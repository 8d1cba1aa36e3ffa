"""The Redis caches behind the `cache` breaker: with Redis hung or killed, reads miss and writes drop, within one
short timeout and then at once, logged once; the scanner and the pages answer from the database; what operators
run still reports the real error; once Redis is back, the trial call closes the breaker. A Redis of our own,
paused (SIGSTOP) and killed for real (tests.services.RedisServer)."""

import logging
import time

import pytest
import redis
from django.core.cache import caches

from opsadmin.health.readiness import readiness
from opsadmin.operations.caches.inventory import cache_panel
from opsadmin.runtime import breakers
from opsadmin.runtime.breakers import CLOSED, OPEN
from stocks.cache_keys import stock_snapshot_key
from stocks.cached import stock_snapshot
from stocks.models import Stock
from tests.helpers import logged_in
from tests.services import redis_unavailable, skip_or_fail, throwaway_redis

pytestmark = pytest.mark.redis  # the Redis caches and their client class are the PostgreSQL + Redis pass's

RESET_SECONDS = 30  # no trial call within a test, unless it asks for a shorter reset timeout (reset_after)
AT_ONCE = 0.02  # seconds: a call the open breaker answers


@pytest.fixture
def server(settings):
    """A Redis of our own holding the caches and the breakers' state, as one Redis does in production."""
    if reason := redis_unavailable():
        skip_or_fail(reason)
    with throwaway_redis() as server:
        settings.REDIS_URL = server
        settings.CACHES = {alias: {**config, "LOCATION": server} for alias, config in settings.CACHES.items()}
        reset_after(settings, RESET_SECONDS)
        yield server


def reset_after(settings, seconds):
    """The cache breaker's reset timeout: how long it stays open before a trial call."""
    settings.PORTAL_BREAKERS = {
        **settings.PORTAL_BREAKERS,
        "cache": {**settings.PORTAL_BREAKERS["cache"], "reset_timeout": seconds},
    }


def timed(call):
    started = time.monotonic()
    value = call()
    return value, time.monotonic() - started


def warnings_logged(caplog):
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]


def test_a_hung_redis_answers_misses_within_the_budget_then_at_once_and_recovers(server, settings, caplog):
    reset_after(settings, 0.5)
    cache = caches["default"]
    cache.set("screen", "cached", timeout=600)
    server.pause()
    budget = settings.PORTAL_CACHE_SOCKET_TIMEOUT + settings.PORTAL_BREAKER_REDIS_TIMEOUT + 0.25
    for call, expected in [
        (lambda: cache.get("screen", "from the database"), "from the database"),
        (lambda: cache.set("screen", "new"), False),
        (lambda: cache.get_many(["screen"]), {}),
    ]:
        value, took = timed(call)
        assert (value, took < budget) == (expected, True), took
    assert breakers.get("cache").current_state == OPEN  # fail_max is 3

    started = time.monotonic()
    assert cache.get("screen") is None
    assert cache.add("other", 1) is False
    assert cache.set_many({"a": 1, "b": 2}) == ["a", "b"]  # every key failed, as Django's set_many says
    assert (cache.has_key("screen"), cache.delete("screen"), cache.touch("screen")) == (False, False, False)
    assert cache.delete_many(["a", "b"]) == 0
    assert cache.get_or_set("computed", lambda: "from the database") == "from the database"
    with pytest.raises(ValueError, match="not found: the cache is unavailable"):
        cache.incr("counter")
    with pytest.raises(ValueError, match="not found"):
        cache.decr("counter")
    assert time.monotonic() - started < 12 * AT_ONCE

    assert warnings_logged(caplog) == [
        f"Circuit breakers: state kept in each process, Redis {server.removeprefix('redis://')} does not answer "
        "(Timeout reading from socket)",
        "Circuit breaker cache: closed -> open (3 failures in a row, the last: "
        "ConnectionInterrupted: Redis TimeoutError: Timeout reading from socket)",
    ]

    server.resume()
    time.sleep(0.5)
    assert cache.get("screen") == "cached"  # the trial call: Redis answers, the breaker closes
    assert breakers.get("cache").current_state == CLOSED


@pytest.mark.django_db
def test_a_killed_redis_leaves_the_scanner_and_the_pages_on_the_database_until_it_is_back(server, settings, caplog):
    reset_after(settings, 2)
    Stock.objects.create(ticker="KILL", name="Killed Redis Inc.")
    assert stock_snapshot("KILL")["name"] == "Killed Redis Inc."
    server.kill()
    caplog.clear()
    for _ in range(10):
        snapshot, took = timed(lambda: stock_snapshot("KILL"))
        assert (snapshot["name"], took < 0.5) == ("Killed Redis Inc.", True)
    assert breakers.get("cache").current_state == OPEN
    opened = [message for message in warnings_logged(caplog) if message.startswith("Circuit breaker cache")]
    assert len(opened) == 1  # the trip, once: no line per call
    operator = logged_in(superuser=True, username="root")
    for path in ("/admin/", "/admin/stocks/stock/", "/admin/ops/caches/"):
        assert operator.get(path).status_code == 200, path

    server.start()  # empty, on the same port
    time.sleep(breakers.get("cache").seconds_until_trial())
    assert stock_snapshot("KILL")["name"] == "Killed Redis Inc."  # the trial call: a miss Redis answered
    assert breakers.get("cache").current_state == CLOSED
    assert caches["default"].get(stock_snapshot_key("KILL")) is not None  # cached again


@pytest.mark.django_db
def test_readiness_answers_fast_and_degraded_while_redis_hangs(server, client, probes_do_not_beat):
    """Probes within 1 s throughout: first the cache checks wait out Redis, then the breaker they trip answers."""
    server.pause()
    verdicts = []
    for _ in range(10):
        readiness.reset()  # a probe each period, as a load balancer's
        response, took = timed(lambda: client.get("/health/ready/"))
        assert (response.status_code, response.json()["status"], took < 1) == (200, "degraded", True), took
        verdicts.append(response.json()["degraded"])
        if "breaker:cache" in verdicts[-1]:
            break
        time.sleep(0.3)
    assert "breaker:cache" in verdicts[-1], verdicts
    readiness.reset()
    [cache_check] = [check for check in readiness.verdict().checks() if check.name == "cache:default"]
    assert cache_check.message.startswith("Unavailable: Redis does not answer (ConnectionInterrupted: "), cache_check
    assert cache_check.message.endswith("; cache breaker open")


def test_what_operators_run_is_not_guarded_and_reports_the_real_error(server):
    server.kill()
    cache = caches["default"]
    for _ in range(3):
        cache.get("anything")
    assert breakers.get("cache").current_state == OPEN
    for operation in (lambda: cache.keys("*"), lambda: list(cache.iter_keys("*")), cache.clear):
        with pytest.raises(redis.ConnectionError, match="Connection refused"):
            operation()
    with pytest.raises(redis.ConnectionError, match="Connection refused"):
        cache.delete_pattern("*")
    assert "refused" in cache_panel("default").error


def test_an_error_redis_answers_with_is_raised_and_is_no_failure(server):
    cache = caches["default"]
    redis.Redis.from_url(server).rpush(cache.make_key("a-list"), "x")  # GET on a list: Redis answers WRONGTYPE
    for _ in range(5):
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            cache.get("a-list")
    breaker = breakers.get("cache")
    assert (breaker.current_state, breaker.fail_counter) == (CLOSED, 0)
