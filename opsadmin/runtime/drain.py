"""Whether this instance should leave the load balancer: drained by an operator, or shutting down.

Draining is a column of the instance row, not process memory, so it survives a restart
until someone resumes the instance (the write is the instances capability's).
Readiness asks on every probe, so the answer is kept for PORTAL_DRAIN_CACHE_SECONDS; a
drain or resume made in this process clears it at once, one made elsewhere is seen
within that time. Shutting down is the server's own memory (portal.shutting_down): it ends
with the server.
"""

import os
import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from opsadmin.models import Instance
from opsadmin.runtime import identity
from portal import shutting_down

_clock = time.monotonic  # tests replace it to step over the cache time without sleeping
_drain_cache = None  # (instance id, clock time it expires, draining)
_drain_generation = 0  # bumped on invalidation, so a read racing a drain can't cache the old answer


def drain_cache_seconds():
    return float(settings.PORTAL_DRAIN_CACHE_SECONDS)


def current_instance_is_draining():
    """Whether readiness should answer 503: this instance is drained, or this process is shutting down.

    False until a heartbeat has named this process's instance. A database error
    propagates: the caller decides what an unknown state means.
    """
    global _drain_cache
    if shutting_down.announced():
        return True
    instance_id = identity.this_instance_id()
    if instance_id is None:
        return False
    cached, now = _drain_cache, _clock()
    if cached is not None and cached[0] == instance_id and now < cached[1]:
        return cached[2]
    generation = _drain_generation
    draining = Instance.objects.filter(pk=instance_id, drain_requested_at__isnull=False).exists()
    if generation == _drain_generation:
        _drain_cache = (instance_id, now + drain_cache_seconds(), draining)
    return draining


@dataclass(frozen=True)
class DrainState:
    """Why this instance is out of the load balancer: drained by someone since then, or shutting down."""

    instance: str
    shutting_down: bool
    by: str = ""
    since: datetime | None = None


def current_drain():
    """This instance's DrainState, or None while it serves (or before a heartbeat named it); one query."""
    instance_id = identity.this_instance_id()
    if shutting_down.announced():
        return DrainState(instance_id or identity.instance_host(), shutting_down=True)
    if instance_id is None:
        return None
    row = Instance.objects.filter(pk=instance_id, drain_requested_at__isnull=False).values_list(
        "drained_by", "drain_requested_at"
    )
    return next((DrainState(instance_id, False, by, since) for by, since in row), None)


def invalidate_drain_cache():
    """Make the next `current_instance_is_draining` read the database."""
    global _drain_cache, _drain_generation
    _drain_generation += 1
    _drain_cache = None


def reset():
    """Forget the cached state, as a new process would (after fork, and in tests)."""
    global _drain_cache
    _drain_cache = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=reset)
