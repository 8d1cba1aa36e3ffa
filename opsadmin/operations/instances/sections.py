"""The instances capability's read: the fleet as the heartbeats left it."""

from dataclasses import dataclass

from opsadmin.runtime import fleet
from opsadmin.spine.results import FAILING, OK, WARNING, Section


@dataclass
class Fleet:
    instances: list[fleet.InstanceStatus]
    serving: int
    draining: int
    gone: int


def fleet_status():
    """Serving instances, drained ones, gone ones; failing when instances exist and none serves."""
    instances = fleet.list_instances()
    states = [instance.state for instance in instances if instance.serves_traffic]
    serving, draining, gone = (states.count(state) for state in (fleet.SERVING, fleet.DRAINING, fleet.GONE))
    data = Fleet(instances, serving, draining, gone)
    if not states:
        return Section(OK, "none yet", "no instance has reported a heartbeat yet", data=data)
    status = FAILING if not serving else WARNING if draining else OK
    detail = (
        ", ".join(f"{count} {state}" for count, state in ((draining, "draining"), (gone, "gone")) if count)
        or "none draining"
    )
    lines = [f"{instance.id}: {instance.state}, {instance.version}" for instance in instances]
    return Section(status, f"{serving} serving", detail, lines=lines, data=data)
