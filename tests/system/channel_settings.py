"""The portal's settings, plus a readiness check that leaves a key living an hour in each web process's
local memory: something for a fleet-wide clear to find, whichever worker served the probe."""

import datetime

from portal.settings import *  # noqa: F403
from portal.settings import PORTAL_HEALTH_CHECKS

PORTAL_HEALTH_CHECKS = [
    *PORTAL_HEALTH_CHECKS,
    ("cache:kept", "health_check.checks.Cache", {"alias": "default", "timeout": datetime.timedelta(hours=1)}, False),
]
