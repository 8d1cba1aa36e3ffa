"""Login lockouts and their resets, in the audit log: a finished run each, and a log line for a lockout.

A lockout is the portal's own doing (door "portal"), recorded once, by the failure that
locks: the further tries axes refuses while it lasts are in its failure log, not here. A
reset names who lifted which (username, address) pair, from the admin.
"""

import logging

from django.conf import settings

from opsadmin.spine import humanize
from opsadmin.spine.runs import Actor, record
from portal.accounts.callers import Caller

logger = logging.getLogger(__name__)

LOCK_OUT, RESET = "lock_out_login", "reset_login_lockouts"


def audit_locked_out(sender, *, request, username, ip_address, **kwargs):
    if getattr(request, "axes_failures_since_start", None) != settings.AXES_FAILURE_LIMIT:
        return  # a try refused while locked, or a lockout already recorded
    minutes = round(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    summary = (
        f"Locked out logins of {username!r} from {ip_address} after {settings.AXES_FAILURE_LIMIT} failures, "
        f"for {minutes} min."
    )
    logger.warning("%s", summary)
    record(
        LOCK_OUT,
        "Lock out a login",
        actor=Actor("portal"),
        door="portal",
        arguments={"username": username, "address": ip_address, "failures": settings.AXES_FAILURE_LIMIT},
        summary=summary,
    )


def audit_reset(sender, *, attempts, by, door, **kwargs):
    described = [f"{username!r} from {address} ({failures} failures)" for username, address, failures in attempts]
    record(
        RESET,
        "Reset login lockouts",
        actor=Actor.of(Caller(by)) if by is not None else Actor.cli(),
        door=door,
        arguments={"attempts": [{"username": u, "address": a, "failures": f} for u, a, f in attempts]},
        summary=f"Reset {humanize.plural(len(attempts), 'login attempt count')}: {', '.join(described)}.",
    )
