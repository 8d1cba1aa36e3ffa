"""Rate limits of the scanner API by membership tier: who is counted, what they have left, and the answers.

Each caller (a user, or an anonymous client's address) has two windows, a minute and a day, with
its tier's limits (settings.PORTAL_RATE_LIMITS). They are counted by the `limits` library's fixed
window in PORTAL_RATE_LIMIT_STORAGE: one counter per caller and window, raised by one atomic
INCR-and-EXPIRE (a Lua script on Redis), so all the processes and instances sharing the storage
admit exactly the limit between them, never one more. Fixed rather than moving window: a moving
window keeps an entry per request (a day of enterprise traffic is millions), a fixed one a single
counter; and its window starts at the caller's first request, not on the clock, so RateLimit-Reset
is the caller's own. The price: a caller may spend a window's limit at its end and the next one's
right after. The library keys a counter by its limit too, so a new tier or limit starts afresh.

The minute is counted first; a request it refuses does not count against the day (one the day
refuses has used a minute's request: it was refused anyway, and taking it back is a second write).

When the storage fails, the limiter fails open (PORTAL_RATE_LIMIT_FAIL_OPEN; off: every request
is refused with 503) and does not try it again for PORTAL_RATE_LIMIT_RETRY_SECONDS: a pybreaker
breaker that opens on the first error, so a hung Redis costs one socket timeout per process and
pause, not one per request. Each trip is logged once per process, and so is the recovery.
"""

import contextlib
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pybreaker
from django.conf import settings
from django.core.signals import setting_changed
from django.http import JsonResponse
from limits import RateLimitItemPerDay, RateLimitItemPerMinute
from limits.errors import StorageError
from limits.storage import MemoryStorage, storage_from_string
from prometheus_client import Counter
from redis.backoff import NoBackoff
from redis.retry import Retry

from portal.accounts.addresses import client_address
from stocks.models import Membership

log = logging.getLogger(__name__)

ANONYMOUS = "anonymous"
TIERS = (ANONYMOUS, *Membership.Tier.values)
WINDOWS = {"minute": RateLimitItemPerMinute, "day": RateLimitItemPerDay}  # the order they are counted in
WINDOW_SECONDS = {"minute": 60, "day": 86_400}
NAMESPACE = "scanner"  # keys: <PORTAL_RATE_LIMIT_KEY_PREFIX>:scanner/<identity>/<limit>/1/<window>

# Refusals for /metrics. Counted here, with the client library itself, because the domain imports nothing of
# the ops portal (whose instruments are in opsadmin.runtime.metrics); the exposition reads every registered
# instrument, these included. `window`: the one that refused (minute, day), or "storage" while failing closed.
REJECTIONS = Counter(
    "portal_rate_limit_rejections",
    "Scanner API requests refused by the rate limits, by tier and the window that refused them.",
    ["tier", "window"],
)


class Unreachable(Exception):
    """The storage did not answer, or is skipped for now after it failed: nothing was counted or cleared."""


@dataclass(frozen=True)
class Identity:
    """Who is counted: `key` is "user:<pk>" or "address:<ip>"; `tier` says which limits apply."""

    tier: str
    key: str


@dataclass(frozen=True)
class Usage:
    """Where a caller stands: the limits of its tier, what is left of each window, and the verdict on a request.

    `window` is the one that binds (refused: the one that refused; else the one with the least
    left), and `reset` the seconds until it starts afresh. `enforced` is False while the storage
    is out: nothing is counted, `remaining` then repeats the limits.
    """

    tier: str
    limits: dict[str, int]
    remaining: dict[str, int]
    reset: int
    admitted: bool
    retry_after: int | None = None
    enforced: bool = True
    window: str = "minute"
    used: dict[str, int] = field(default_factory=dict)  # the counters as they stand (past the limit when refused)

    def as_json(self):
        """The body of GET /api/usage/; it says `"enforced": false` while nothing is counted."""
        body = {"tier": self.tier, "limits": self.limits, "remaining": self.remaining}
        return body if self.enforced else {**body, "enforced": False}


def identify(request, caller):
    """Who `request` is counted as: its caller's user (portal.accounts.callers.Caller), else its client's address."""
    if caller is None:
        return Identity(ANONYMOUS, f"address:{client_address(request)}")
    return user_identity(caller.user)


def user_identity(user):
    """A user counted at the tier of its membership now; without one, free."""
    try:
        return member_identity(user.membership)
    except Membership.DoesNotExist:
        return Identity(Membership.Tier.FREE.value, _user_key(user.pk))


def member_identity(membership):
    """A member counted at its tier now (an expired membership counts as free)."""
    return Identity(membership.effective_tier().value, _user_key(membership.user_id))


def _user_key(pk):
    return f"user:{pk}"


def hit(identity):
    """Count one request of `identity` and say whether it is admitted (the minute first, then the day)."""
    limits = settings.PORTAL_RATE_LIMITS[identity.tier]
    try:
        with _storage() as storage:
            used = {"minute": storage.incr(_key(identity.key, "minute", limits), WINDOW_SECONDS["minute"])}
            if used["minute"] > limits["minute"]:
                used["day"] = storage.get(_key(identity.key, "day", limits))
                refused_by = "minute"
            else:
                used["day"] = storage.incr(_key(identity.key, "day", limits), WINDOW_SECONDS["day"])
                refused_by = "day" if used["day"] > limits["day"] else None
            usage = _usage(storage, identity, limits, used, refused_by)
    except Unreachable:
        usage = _unenforced(identity, limits)
    if not usage.admitted:
        REJECTIONS.labels(identity.tier, usage.window if usage.enforced else "storage").inc()
    return usage


def peek(identity):
    """Where `identity` stands, without counting anything (GET /api/usage/, the Membership admin)."""
    limits = settings.PORTAL_RATE_LIMITS[identity.tier]
    try:
        with _storage() as storage:
            used = {window: storage.get(_key(identity.key, window, limits)) for window in WINDOWS}
            return _usage(storage, identity, limits, used, None)
    except Unreachable:
        return _unenforced(identity, limits)


def headers(usage):
    """RateLimit-* of the binding window, RateLimit-Policy naming both, and Retry-After when refused; none while
    nothing is counted."""
    if not usage.enforced:
        return {}
    found = {
        "RateLimit-Limit": str(usage.limits[usage.window]),
        "RateLimit-Remaining": str(usage.remaining[usage.window]),
        "RateLimit-Reset": str(usage.reset),
        "RateLimit-Policy": ", ".join(f"{usage.limits[window]};w={WINDOW_SECONDS[window]}" for window in WINDOWS),
    }
    if usage.retry_after is not None:
        found["Retry-After"] = str(usage.retry_after)
    return found


def refusal(usage):
    """The answer to a refused request: 429 naming the window, tier and limit; 503 while failing closed."""
    if not usage.enforced:
        response = JsonResponse(
            {"error": "rate limiting unavailable: try again shortly", "retry_after": usage.retry_after}, status=503
        )
        response["Retry-After"] = str(usage.retry_after)
    else:
        limit = usage.limits[usage.window]
        body = {
            "error": f"rate limit exceeded: {limit:,} requests a {usage.window} on the {usage.tier} tier",
            "window": usage.window,
            "tier": usage.tier,
            "limit": limit,
            "retry_after": usage.retry_after,
        }
        response = JsonResponse(body, status=429)
        for name, value in headers(usage).items():
            response[name] = value
    response["Cache-Control"] = "no-store"
    return response


def reset(identities):
    """Clear the counters of `identities` (Identity objects or users); how many had any.

    Every tier's keys go, so whatever tier a caller was counted at this window starts afresh.
    Raises Unreachable when the storage does not answer.
    """
    every_limits = list({tuple(limits.items()): limits for limits in settings.PORTAL_RATE_LIMITS.values()}.values())
    had = 0
    with _storage() as storage:
        for item in identities:
            key = item.key if isinstance(item, Identity) else _user_key(item.pk)
            counters = list(dict.fromkeys(_key(key, window, limits) for limits in every_limits for window in WINDOWS))
            had += any(storage.get(counter) for counter in counters)
            for counter in counters:
                storage.clear(counter)
    return had


def probe():
    """None when the storage answers now (asked directly, breaker or not), else why not."""
    try:
        limiter().storage.get(f"{NAMESPACE}/probe")
    except StorageError as error:
        return _reason(error)
    return None


def per_process():
    """True when each process keeps its own counters (memory://): limits then hold per process, not fleet-wide."""
    return isinstance(limiter().storage, MemoryStorage)


def storage_label():
    """The storage's URL without its password, as pages and logs show it."""
    parts = urlsplit(settings.PORTAL_RATE_LIMIT_STORAGE)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return f"{parts.scheme}://{netloc}{parts.path}"


def skipping():
    """True while this process skips the storage after it failed (the breaker is open)."""
    return limiter().breaker.current_state == pybreaker.STATE_OPEN


# --- The storage and its breaker, one per process -------------------------------------------------------


@dataclass(frozen=True)
class Limiter:
    storage: object
    breaker: pybreaker.CircuitBreaker


_lock = threading.Lock()
_current = None


def limiter():
    """This process's storage client and breaker, made on first use (after a fork: redis-py reconnects)."""
    global _current
    with _lock:
        if _current is None:
            storage = storage_from_string(
                settings.PORTAL_RATE_LIMIT_STORAGE,
                key_prefix=settings.PORTAL_RATE_LIMIT_KEY_PREFIX,
                wrap_exceptions=True,
                socket_timeout=settings.PORTAL_RATE_LIMIT_SOCKET_TIMEOUT,
                socket_connect_timeout=settings.PORTAL_RATE_LIMIT_SOCKET_TIMEOUT,
                retry=Retry(NoBackoff(), 0),  # redis-py would retry 3 times: 4 timeouts per request
            )
            breaker = pybreaker.CircuitBreaker(
                fail_max=1,
                reset_timeout=settings.PORTAL_RATE_LIMIT_RETRY_SECONDS,
                exclude=[lambda error: not isinstance(error, StorageError)],  # only the storage's failures count
                listeners=[_Announcer()],
                throw_new_error_on_trip=False,
                name="rate limits",
            )
            _current = Limiter(storage, breaker)
        return _current


def forget():
    """Drop this process's limiter, counters and breaker state (memory://): a new one is made on next use."""
    global _current
    with _lock:
        _current = None


def _forget_on_settings_change(setting, **kwargs):
    if setting.startswith("PORTAL_RATE_LIMIT"):
        forget()


setting_changed.connect(_forget_on_settings_change)


@contextlib.contextmanager
def _storage():
    """The storage, through the breaker: Unreachable when it fails, or while it is skipped after failing.

    `calling()` holds the breaker's lock only while it decides, not around the round trip, so
    the threads of a process wait on Redis side by side, not in turn.
    """
    current = limiter()
    try:
        with current.breaker.calling():
            yield current.storage
    except (StorageError, pybreaker.CircuitBreakerError) as error:
        raise Unreachable(_reason(error)) from None


class _Announcer(pybreaker.CircuitBreakerListener):
    """One log line when the breaker trips (closed to open), one when it closes again; none per request."""

    def __init__(self):
        self.error = None

    def failure(self, breaker, error):
        self.error = error

    def state_change(self, breaker, old, new):
        if old is None or old.name == new.name:
            return
        if old.name == pybreaker.STATE_CLOSED and new.name == pybreaker.STATE_OPEN:
            verdict = (
                "failing open: requests are admitted uncounted"
                if settings.PORTAL_RATE_LIMIT_FAIL_OPEN
                else "failing closed: requests are refused with 503"
            )
            log.warning(
                "Rate-limit storage %s unreachable (%s): %s; trying it again every %s s",
                storage_label(),
                _reason(self.error),
                verdict,
                breaker.reset_timeout,
            )
        elif new.name == pybreaker.STATE_CLOSED:
            log.warning("Rate-limit storage %s answers again: limits enforced", storage_label())


def _reason(error):
    """A storage error in a few words: the Redis error inside limits' StorageError."""
    inner = getattr(error, "storage_error", error)
    return str(inner).splitlines()[0] if str(inner) else type(inner).__name__


# --- Counting -------------------------------------------------------------------------------------------


def _key(key, window, limits):
    """The storage key of `key`'s counter in `window` at `limits` (the library's: the limit is part of it)."""
    return WINDOWS[window](limits[window], namespace=NAMESPACE).key_for(key)


def _usage(storage, identity, limits, used, refused_by):
    """The Usage of counters `used`: the binding window (the refusing one, else the one with least left; on a tie
    the day, which lasts longer), and when it resets (a window not started yet: its length)."""
    remaining = {window: max(0, limits[window] - used[window]) for window in WINDOWS}
    window = refused_by or min(reversed(WINDOWS), key=lambda name: remaining[name])
    if used[window]:
        reset = max(1, math.ceil(storage.get_expiry(_key(identity.key, window, limits)) - time.time()))
    else:
        reset = WINDOW_SECONDS[window]
    return Usage(
        tier=identity.tier,
        limits=dict(limits),
        remaining=remaining,
        reset=reset,
        admitted=refused_by is None,
        retry_after=reset if refused_by else None,
        window=window,
        used=used,
    )


def _unenforced(identity, limits):
    """The Usage while the storage is out: admitted when failing open; refused, to retry after the pause, if not."""
    fail_open = settings.PORTAL_RATE_LIMIT_FAIL_OPEN
    return Usage(
        tier=identity.tier,
        limits=dict(limits),
        remaining=dict(limits),
        reset=0,
        admitted=fail_open,
        retry_after=None if fail_open else math.ceil(settings.PORTAL_RATE_LIMIT_RETRY_SECONDS),
        enforced=False,
        used={},
    )
