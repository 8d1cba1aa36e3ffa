"""The portal's settings without its observability (bench/observability.py's baseline only): no request line
(portal.request_log), no request metrics, database statements not timed. bench/observability.py also sets
PORTAL_LOG_LEVEL=WARNING for it.

Still there, as they are inline in code that stays: the cache calls' timing in the guarded Redis client
(opsadmin.runtime.guarded_cache), the heartbeat's memory gauge, and the readiness verdicts' counter.
"""

from django.db.backends.signals import connection_created

from portal.settings import *  # noqa: F403
from portal.settings import MIDDLEWARE

OBSERVABILITY = (
    "portal.request_log.RequestLogMiddleware",
    "opsadmin.runtime.metrics.requests.RequestMetricsMiddleware",
)
MIDDLEWARE = [entry for entry in MIDDLEWARE if entry not in OBSERVABILITY]

# opsadmin's ready() connects the statement timer (opsadmin.runtime.metrics.database.install) with this
# dispatch_uid; Django keeps one receiver per dispatch_uid, so this one, connected first, makes that a no-op.
# bench/observability.py checks on the baseline's /metrics that no statement was timed.
connection_created.connect(lambda **kwargs: None, dispatch_uid="portal-metrics-database", weak=False)
