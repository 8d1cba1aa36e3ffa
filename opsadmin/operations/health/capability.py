"""The health capability: readiness as load balancers see it, and every check's detail."""

from opsadmin.operations.health import sections
from opsadmin.spine.capability import Capability, Page, Read

CAPABILITY = Capability(
    name="health",
    title="Health",
    icon="monitor_heart",
    group="Health",
    nav_title="Readiness and checks",
    reads=(Read("checks", "Readiness and every check", sections.checks),),
    status="checks",
    page=Page("opsadmin/health.html", lambda: {"health": sections.checks().data}),
    card="opsadmin/cards/health.html",
)
