"""The rate-limits capability's health check, rate_limits in /health/ and readiness: the limiter counts requests.

Never critical: with the storage out the API still answers. Failing open is a warning (shown in
/health/, readiness unaffected); failing closed fails the check, so readiness says "degraded"
while every scanner request is refused.
"""

import dataclasses

from django.conf import settings
from health_check import HealthCheck
from health_check.exceptions import ServiceUnavailable, ServiceWarning

from stocks import rate_limits


@dataclasses.dataclass
class LimiterEnforcing(HealthCheck):
    """A warning while the storage does not answer and requests go through uncounted; failing if they are refused."""

    def run(self):
        problem = rate_limits.probe()
        if problem is None:
            return
        where = f"{rate_limits.storage_label()} unreachable ({problem})"
        if settings.PORTAL_RATE_LIMIT_FAIL_OPEN:
            raise ServiceWarning(f"failing open: {where}; requests are admitted uncounted")
        raise ServiceUnavailable(f"failing closed: {where}; scanner requests are refused with 503")
