"""The scanner API's rate limits (stocks/rate_limits.py): counted exactly, answered with the right headers, failing
open (or closed) when the storage is out, on memory:// and on a throwaway Redis of our own."""

import json
import logging
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
import redis
from django.contrib.auth.models import AnonymousUser, User
from django.test import RequestFactory
from django.utils import timezone

from portal.accounts.callers import calling
from portal.accounts.models import ApiToken
from portal.accounts.tokens import issue_token
from portal.environment import env_rates
from stocks import rate_limits
from stocks.models import Membership
from tests.services import REPO, redis_unavailable, skip_or_fail, throwaway_redis

# Small limits, a different one per tier, so each tier's are seen to apply.
SMALL = {
    tier: {"minute": 3 + number, "day": 20 + number}
    for number, tier in enumerate(("anonymous", "free", "basic", "pro", "enterprise"))
}


@pytest.fixture(params=["memory", "redis"])
def storage(request, settings):
    """The limiter on memory:// or on an emptied throwaway Redis, with the SMALL limits; its URL."""
    url = "memory://"
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        redis.Redis.from_url(url).flushall()
    settings.PORTAL_RATE_LIMIT_STORAGE = url
    settings.PORTAL_RATE_LIMITS = SMALL
    return url


@pytest.fixture
def outage(settings):
    """A Redis of this test's own, with the limiter on it, to kill or pause; short pauses after a failure."""
    if reason := redis_unavailable():
        skip_or_fail(reason)
    with throwaway_redis() as server:
        settings.PORTAL_RATE_LIMIT_STORAGE = server
        settings.PORTAL_RATE_LIMITS = SMALL
        settings.PORTAL_RATE_LIMIT_RETRY_SECONDS = 1.0
        yield server


def caller(key="user:1", tier="free"):
    return rate_limits.Identity(tier, key)


# --- Counting and the answers -------------------------------------------------------------------------


@pytest.mark.parametrize("tier", list(SMALL))
def test_each_tier_admits_its_minute_limit_counting_down_then_refuses(storage, tier):
    limit = SMALL[tier]["minute"]
    identity = caller(f"user:{tier}", tier)
    for made in range(1, limit + 1):
        usage = rate_limits.hit(identity)
        assert usage.admitted
        assert rate_limits.headers(usage) == {
            "RateLimit-Limit": str(limit),
            "RateLimit-Remaining": str(limit - made),
            "RateLimit-Reset": "60",
            "RateLimit-Policy": f"{limit};w=60, {SMALL[tier]['day']};w=86400",
        }
    refused = rate_limits.hit(identity)
    assert (refused.admitted, refused.window, refused.remaining["minute"]) == (False, "minute", 0)
    assert 1 <= refused.retry_after <= 60
    assert rate_limits.headers(refused)["Retry-After"] == str(refused.retry_after)


def test_the_429_names_the_window_tier_and_limit(storage):
    identity = caller(tier="basic")
    for _ in range(SMALL["basic"]["minute"] + 1):
        usage = rate_limits.hit(identity)
    response = rate_limits.refusal(usage)
    assert response.status_code == 429
    assert json.loads(response.content) == {
        "error": "rate limit exceeded: 5 requests a minute on the basic tier",
        "window": "minute",
        "tier": "basic",
        "limit": 5,
        "retry_after": usage.retry_after,
    }
    assert response["Retry-After"] == str(usage.retry_after)
    assert (response["RateLimit-Remaining"], response["Cache-Control"]) == ("0", "no-store")


def test_the_day_binds_once_it_has_less_left_and_refuses_in_its_turn(storage, settings):
    settings.PORTAL_RATE_LIMITS = {**SMALL, "free": {"minute": 10, "day": 3}}
    identity = caller()
    admitted = [rate_limits.hit(identity) for _ in range(3)]
    assert [usage.window for usage in admitted] == ["day", "day", "day"]
    assert rate_limits.headers(admitted[-1])["RateLimit-Remaining"] == "0"
    assert 86_395 <= admitted[-1].reset <= 86_400
    refused = rate_limits.hit(identity)
    assert (refused.admitted, refused.window) == (False, "day")
    assert (
        json.loads(rate_limits.refusal(refused).content)["error"]
        == "rate limit exceeded: 3 requests a day on the free tier"
    )


def test_a_request_the_minute_refuses_does_not_count_against_the_day(storage):
    identity = caller()
    for _ in range(SMALL["free"]["minute"] + 5):
        rate_limits.hit(identity)
    usage = rate_limits.peek(identity)
    assert usage.used == {"minute": 9, "day": 4}  # refused ones still raise the minute's counter, not the day's
    assert usage.remaining == {"minute": 0, "day": 21 - 4}


def test_peek_counts_nothing(storage):
    identity = caller()
    untouched = rate_limits.peek(identity)
    assert (untouched.remaining, untouched.window, untouched.reset) == ({"minute": 4, "day": 21}, "minute", 60)
    rate_limits.hit(identity)
    for _ in range(3):
        assert rate_limits.peek(identity).remaining == {"minute": 3, "day": 20}
    assert rate_limits.peek(identity).as_json() == {
        "tier": "free",
        "limits": {"minute": 4, "day": 21},
        "remaining": {"minute": 3, "day": 20},
    }


def test_callers_are_counted_apart(storage):
    for _ in range(4):
        rate_limits.hit(caller("user:1"))
    assert not rate_limits.hit(caller("user:1")).admitted
    assert rate_limits.hit(caller("user:2")).admitted
    assert rate_limits.hit(caller("address:192.0.2.1", "anonymous")).admitted


def test_reset_clears_whatever_tier_counted_and_says_how_many_had_counters(storage):
    for _ in range(10):
        rate_limits.hit(caller("user:1"))
    rate_limits.hit(caller("user:1", "pro"))  # counted at another tier this window: its keys go too
    rate_limits.hit(caller("address:192.0.2.1", "anonymous"))
    named = [caller("user:1"), caller("address:192.0.2.1", "anonymous"), caller("user:3")]
    assert rate_limits.reset(named) == 2
    assert rate_limits.peek(caller("user:1")).used == {"minute": 0, "day": 0}
    assert rate_limits.peek(caller("user:1", "pro")).used == {"minute": 0, "day": 0}
    assert rate_limits.hit(caller("address:192.0.2.1", "anonymous")).remaining["minute"] == 2
    assert rate_limits.reset(named) == 1  # the address, counted again since


@pytest.mark.django_db
def test_reset_takes_users_too(storage):
    user = User.objects.create_user("alice")
    rate_limits.hit(rate_limits.user_identity(user))
    assert rate_limits.reset([user]) == 1
    assert rate_limits.peek(rate_limits.user_identity(user)).used == {"minute": 0, "day": 0}


def test_concurrent_hits_admit_exactly_the_limit(storage, settings):
    settings.PORTAL_RATE_LIMITS = {**SMALL, "free": {"minute": 50, "day": 1000}}
    verdicts = []

    def send():
        for _ in range(20):
            verdicts.append(rate_limits.hit(caller()).admitted)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (verdicts.count(True), verdicts.count(False)) == (50, 110)


def test_redis_keeps_the_counters_under_the_ratelimit_alias_prefix_with_the_window_as_expiry(settings, redis_url):
    settings.PORTAL_RATE_LIMIT_STORAGE = redis_url
    settings.PORTAL_RATE_LIMITS = SMALL
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    rate_limits.hit(caller("user:7"))
    keys = sorted(key.decode() for key in client.keys("*"))
    assert keys == ["ratelimit:1:scanner/user:7/21/1/day", "ratelimit:1:scanner/user:7/4/1/minute"]
    assert 59 <= client.ttl("ratelimit:1:scanner/user:7/4/1/minute") <= 60


# --- Who is counted -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_scanner_token_is_counted_as_its_user_at_the_tier_of_its_membership():
    user = User.objects.create_user("trader")
    Membership.objects.create(user=user, tier=Membership.Tier.PRO)
    _, token = issue_token(user, "scanner", scope=ApiToken.Scope.SCANNER)
    request = RequestFactory().get("/api/stocks/", HTTP_AUTHORIZATION=f"Bearer {token}")
    request.user = AnonymousUser()
    assert rate_limits.identify(request, calling(request)) == rate_limits.Identity("pro", f"user:{user.pk}")


@pytest.mark.django_db
def test_a_session_user_without_a_membership_or_with_an_expired_one_is_free():
    user = User.objects.create_user("browser")
    request = RequestFactory().get("/api/stocks/")
    request.user = user
    assert rate_limits.identify(request, calling(request)) == rate_limits.Identity("free", f"user:{user.pk}")
    Membership.objects.create(user=user, tier="enterprise", valid_until=timezone.now() - timedelta(days=1))
    user.refresh_from_db()
    assert rate_limits.identify(request, calling(request)).tier == "free"


def test_anonymous_callers_are_counted_by_address_trusting_only_our_proxy(settings):
    request = RequestFactory().get("/api/stocks/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.9")
    settings.PORTAL_BEHIND_PROXY = False
    assert rate_limits.identify(request, None) == rate_limits.Identity("anonymous", "address:10.0.0.5")
    settings.PORTAL_BEHIND_PROXY = True  # the proxy appended the last entry; the first is the client's own invention
    assert rate_limits.identify(request, None) == rate_limits.Identity("anonymous", "address:198.51.100.9")


# --- When the storage is out --------------------------------------------------------------------------


def test_a_stopped_redis_fails_open_once_per_trip_and_recovers(outage, caplog):
    caplog.set_level(logging.WARNING, logger="stocks.rate_limits")
    assert rate_limits.hit(caller()).enforced
    outage.kill()
    usages = [rate_limits.hit(caller()) for _ in range(20)]
    assert all(usage.admitted and not usage.enforced for usage in usages)
    assert rate_limits.headers(usages[0]) == {}
    assert rate_limits.peek(caller()).as_json() == {
        "tier": "free",
        "limits": {"minute": 4, "day": 21},
        "remaining": {"minute": 4, "day": 21},
        "enforced": False,
    }
    assert rate_limits.probe()  # the status read and the health check ask it directly
    (tripped,) = [record.getMessage() for record in caplog.records]
    assert f"Rate-limit storage {outage} unreachable" in tripped
    assert "failing open: requests are admitted uncounted; trying it again every 1.0 s" in tripped
    outage.start()  # empty: the counters went with it
    time.sleep(1.1)
    assert rate_limits.hit(caller()).enforced
    assert rate_limits.hit(caller()).remaining["minute"] == 2
    assert [record.getMessage() for record in caplog.records][1:] == [
        f"Rate-limit storage {outage} answers again: limits enforced"
    ]


def test_a_hung_redis_costs_one_socket_timeout_then_is_skipped(outage, settings):
    settings.PORTAL_RATE_LIMIT_SOCKET_TIMEOUT = 0.2
    rate_limits.hit(caller())
    outage.pause()
    try:
        started = time.monotonic()
        assert not rate_limits.hit(caller()).enforced
        first = time.monotonic() - started
        started = time.monotonic()
        assert not any(rate_limits.hit(caller()).enforced for _ in range(50))
        rest = time.monotonic() - started
    finally:
        outage.resume()
    assert 0.15 < first < 0.6  # one timeout, no retries
    assert rest < 0.1


def test_failing_closed_refuses_with_503_and_retry_after(outage, settings):
    settings.PORTAL_RATE_LIMIT_FAIL_OPEN = False
    outage.kill()
    usage = rate_limits.hit(caller())
    assert (usage.admitted, usage.enforced, usage.retry_after) == (False, False, 1)
    response = rate_limits.refusal(usage)
    assert response.status_code == 503
    assert json.loads(response.content) == {"error": "rate limiting unavailable: try again shortly", "retry_after": 1}
    assert (response["Retry-After"], response["Cache-Control"]) == ("1", "no-store")


def test_reset_says_when_the_storage_is_out(outage):
    outage.kill()
    with pytest.raises(rate_limits.Unreachable):
        rate_limits.reset([caller()])


# --- Settings -----------------------------------------------------------------------------------------


def test_limits_are_read_from_the_environment_strictly(monkeypatch):
    monkeypatch.setenv("LIMIT", " 100/Minute , 9000/day ")
    assert env_rates("LIMIT", "1/minute,1/day") == {"minute": 100, "day": 9000}
    monkeypatch.delenv("LIMIT")
    assert env_rates("LIMIT", "60/minute,5000/day") == {"minute": 60, "day": 5000}
    for bad in ("60/minute", "60/hour,5000/day", "0/minute,10/day", "1/minute,2/minute", "60 per minute,1/day", "x"):
        monkeypatch.setenv("LIMIT", bad)
        with pytest.raises(ValueError, match=r"LIMIT='.*' is not a rate limit such as 60/minute,5000/day"):
            env_rates("LIMIT", "1/minute,1/day")


def test_the_defaults_are_the_issue_s():
    from django.conf import settings

    assert settings.PORTAL_RATE_LIMITS["free"] == {"minute": 60, "day": 5000}
    assert list(settings.PORTAL_RATE_LIMITS) == list(rate_limits.TIERS)


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        (
            "PORTAL_RATE_LIMIT_PRO",
            "600/hour",
            "Configuration error: PORTAL_RATE_LIMIT_PRO='600/hour' is not a rate limit such as 60/minute,5000/day "
            "(each above 0)",
        ),
        (
            "PORTAL_RATE_LIMIT_STORAGE",
            "memcached://cache:11211",
            "Configuration error: PORTAL_RATE_LIMIT_STORAGE: memcached scheme: use redis://host:port/db, rediss://, "
            "redis+unix:///path or memory://",
        ),
        (
            "PORTAL_RATE_LIMIT_FAIL_OPEN",
            "sometimes",
            "Configuration error: PORTAL_RATE_LIMIT_FAIL_OPEN='sometimes' is not a boolean; "
            "use 1/true/yes/on or 0/false/no/off",
        ),
    ],
)
def test_a_bad_value_stops_start_up_with_one_line_naming_it(variable, value, line):
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", variable: value},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [line]  # no traceback
