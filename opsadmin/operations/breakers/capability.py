"""The breakers capability: every circuit breaker's state, failures and history; reset, open or half-open one."""

from django.conf import settings

from opsadmin.operations.breakers import sections, writes
from opsadmin.operations.breakers.health_check import BreakerClosed
from opsadmin.runtime.breakers import CLOSED, HALF_OPEN, OPEN
from opsadmin.spine.capability import Alias, Capability, DeclaredCheck, Page, Read

CAPABILITY = Capability(
    name="breakers",
    title="Breakers",
    icon="electrical_services",
    group="Runtime",
    reads=(Read("list", "Every circuit breaker", sections.breaker_list),),
    writes=(writes.RESET, writes.OPEN, writes.HALF_OPEN),
    status="list",
    page=Page("opsadmin/breakers.html", sections.page_context),
    health_checks=tuple(
        DeclaredCheck(f"breaker:{name}", BreakerClosed, {"breaker": name}, critical=declared.get("critical", False))
        for name, declared in settings.PORTAL_BREAKERS.items()
    ),
    colours={CLOSED: "success", OPEN: "danger", HALF_OPEN: "warning"},
    aliases=(
        Alias("breakers/", "breakers", read="list"),
        Alias("breakers/<str:name>/reset/", "reset_breaker", write="reset_breaker"),
    ),
)
