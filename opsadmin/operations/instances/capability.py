"""The instances capability: which processes serve where, drained or not; drain and resume."""

from opsadmin.operations.instances import drain, sections
from opsadmin.spine.capability import Alias, Capability, Read

CAPABILITY = Capability(
    name="instances",
    title="Instances",
    icon="dns",
    group="Runtime",
    reads=(Read("fleet", "Instances and their processes", sections.fleet_status),),
    writes=(drain.DRAIN_WRITE,),
    status="fleet",
    changelist="opsadmin.Instance",
    card="opsadmin/cards/instances.html",
    actions=(drain.DRAIN_SELECTED, drain.RESUME_SELECTED),
    colours={"serving": "success", "draining": "info", "stopped": "default", "gone": "warning", "alive": "success"},
    aliases=(
        Alias("instances/", "instances", read="fleet"),
        Alias("drain/", "drain", write="drain"),
    ),
)
