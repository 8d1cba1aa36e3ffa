"""The rate-limits capability's read, and what its page shows: the limiter as this process finds it, and the tiers.

The storage is probed directly (one GET, within PORTAL_RATE_LIMIT_SOCKET_TIMEOUT), not through
the breaker of the process serving the page: the question is whether requests are counted now.
Failing open is a warning (requests go through uncounted); failing closed is failing (every
scanner request is refused with 503).
"""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Q
from django.utils import timezone

from opsadmin.spine import humanize
from opsadmin.spine.results import FAILING, OK, WARNING, Section
from stocks import rate_limits
from stocks.models import Membership

ENFORCING, FAILING_OPEN, FAILING_CLOSED = "enforcing", "failing open", "failing closed"


@dataclass
class TierLimits:
    tier: str
    minute: int
    day: int
    members: int | None  # active users counted at this tier now; None for anonymous callers (counted by address)


@dataclass
class Limiter:
    state: str  # enforcing, failing open, failing closed
    storage: str  # its URL without a password
    shared: bool  # False for memory://: each process counts its own
    problem: str  # why the storage does not answer ("" when it does)
    fail_open: bool
    retry_seconds: float  # how long a process skips the storage after it failed
    tiers: list[TierLimits]


def limiter():
    """Enforcing when the storage answers; failing open (a warning) or closed (failing) when it does not."""
    problem = rate_limits.probe() or ""
    fail_open = settings.PORTAL_RATE_LIMIT_FAIL_OPEN
    state = ENFORCING if not problem else FAILING_OPEN if fail_open else FAILING_CLOSED
    data = Limiter(
        state=state,
        storage=rate_limits.storage_label(),
        shared=not rate_limits.per_process(),
        problem=problem,
        fail_open=fail_open,
        retry_seconds=settings.PORTAL_RATE_LIMIT_RETRY_SECONDS,
        tiers=tier_limits(),
    )
    lines = [tier_line(tier) for tier in data.tiers]
    if state == FAILING_OPEN:
        detail = f"{data.storage} unreachable ({problem}): scanner requests are admitted uncounted"
        return Section(WARNING, state, detail, lines=[detail, *lines], data=data)
    if state == FAILING_CLOSED:
        detail = f"{data.storage} unreachable ({problem}): every scanner request is refused with 503"
        return Section(FAILING, state, detail, lines=[detail, *lines], data=data)
    where = (
        f"counters in {data.storage}, shared by every process"
        if data.shared
        else "counters in memory://: each process counts its own, so limits hold per process"
    )
    return Section(OK, state, where, lines=[where, *lines], data=data)


def tier_limits():
    """Each tier's limits (settings.PORTAL_RATE_LIMITS) and how many active users it counts now.

    Free counts everyone else: users without a membership, and members whose paid tier has expired.
    """
    now = timezone.now()
    current = Q(membership__valid_until__isnull=True) | Q(membership__valid_until__gt=now)
    paid = [tier for tier in Membership.Tier.values if tier != Membership.Tier.FREE]
    counts = (
        get_user_model()
        .objects.filter(is_active=True)
        .aggregate(
            everyone=Count("pk"), **{tier: Count("pk", filter=current & Q(membership__tier=tier)) for tier in paid}
        )
    )
    counts[Membership.Tier.FREE] = counts.pop("everyone") - sum(counts[tier] for tier in paid)
    return [
        TierLimits(tier, limits["minute"], limits["day"], counts.get(tier))
        for tier, limits in settings.PORTAL_RATE_LIMITS.items()
    ]


def tier_line(tier):
    """ "free: 60 a minute, 5,000 a day — 1,204 users" """
    who = "counted by address" if tier.members is None else humanize.plural(tier.members, "user")
    return f"{tier.tier}: {tier.minute:,} a minute, {tier.day:,} a day — {who}"


def page_context():
    return {"section": limiter()}
