"""The rate-limits capability: is the scanner API's limiter enforcing, at what limits per tier; reset callers."""

from opsadmin.operations.rate_limits import sections, writes
from opsadmin.operations.rate_limits.health_check import LimiterEnforcing
from opsadmin.spine.capability import Capability, DeclaredCheck, DeclaredPermission, Page, Read

OPS_GROUPS = ("Ops viewers", "Ops operators")

CAPABILITY = Capability(
    name="rate_limits",
    title="Rate limits",
    icon="speed",
    group="Scanner API",
    reads=(Read("limiter", "The limiter and each tier's limits", sections.limiter),),
    writes=(writes.RESET_RATE_LIMITS,),
    status="limiter",
    page=Page("opsadmin/rate_limits.html", sections.page_context),
    card="opsadmin/cards/rate_limits.html",
    actions=(writes.RESET_SELECTED_MEMBERS,),
    health_checks=(DeclaredCheck("rate_limits", LimiterEnforcing),),
    permissions=(
        DeclaredPermission(writes.PERMISSION, "Can reset rate limits"),
        # The members and their usage, where the reset of selected members is.
        DeclaredPermission("view_membership", "Can view membership", OPS_GROUPS, model="stocks.Membership"),
    ),
    colours={sections.ENFORCING: "success", sections.FAILING_OPEN: "warning", sections.FAILING_CLOSED: "danger"},
)
