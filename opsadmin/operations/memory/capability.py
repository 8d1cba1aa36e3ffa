"""The memory capability: every live worker's memory across the fleet; collect garbage, recycle, take a snapshot."""

from opsadmin.operations.memory import page, rolling, sections, writes
from opsadmin.spine.capability import Alias, Capability, Page, Read

CAPABILITY = Capability(
    name="memory",
    title="Memory",
    icon="memory_alt",
    group="Runtime",
    reads=(Read("fleet", "Every worker's memory and the machines'", sections.fleet_memory),),
    writes=(writes.COLLECT, writes.RECYCLE, rolling.ROLLING, writes.SNAPSHOT),
    status="fleet",
    page=Page("opsadmin/memory.html", page.page_context),
    aliases=(Alias("system/memory/", "system_memory", read="fleet"),),
)
