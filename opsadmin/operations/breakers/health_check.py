"""The breakers capability's health checks: one per breaker, breaker:<name> in /health/ and readiness.

Each reads its breaker's state as every guarded call does (cached for
PORTAL_BREAKER_SYNC_SECONDS): no round trip of its own, so readiness stays fast whatever
Redis does. Critical for a breaker declared `critical` (the database: an instance that
fails every request that needs it should leave the load balancer); the others degrade it.
"""

import dataclasses

from health_check import HealthCheck
from health_check.exceptions import ServiceUnavailable, ServiceWarning

from opsadmin.runtime import breakers
from opsadmin.runtime.breakers import HALF_OPEN, OPEN
from opsadmin.spine import humanize


@dataclasses.dataclass
class BreakerClosed(HealthCheck):
    """Failing while the breaker is open, a warning while it is half-open."""

    breaker: str = ""

    def run(self):
        breaker = breakers.get(self.breaker)
        state = breaker.current_state
        if state == OPEN:
            wait = breaker.seconds_until_trial()
            trial = f"trial in {humanize.duration(wait)}" if wait else "trial on the next call"
            raise ServiceUnavailable(f"open: calls fail at once, {trial}")
        if state == HALF_OPEN:
            raise ServiceWarning("half-open: the next call is a trial")
