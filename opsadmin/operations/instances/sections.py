"""The instances capability's read: the fleet as the heartbeats left it, web instances and task workers apart."""

from dataclasses import dataclass

from opsadmin.runtime import fleet
from opsadmin.spine import humanize
from opsadmin.spine.results import DRAINING, FAILING, OK, Section


@dataclass
class Fleet:
    instances: list[fleet.InstanceStatus]  # what load balancers send traffic to
    task_workers: list[fleet.TaskWorker]
    serving: int
    draining: int
    stopped: int
    gone: int


def fleet_status():
    """Web instances serving, drained (on purpose: its own state), stopped, gone; failing when none serves."""
    everything = fleet.list_instances()
    instances = [instance for instance in everything if instance.serves_traffic]
    workers = fleet.task_workers(everything)
    states = [instance.state for instance in instances]
    serving, draining, stopped, gone = (
        states.count(state) for state in (fleet.SERVING, fleet.DRAINING, fleet.STOPPED, fleet.GONE)
    )
    data = Fleet(instances, workers, serving, draining, stopped, gone)
    lines = [f"{instance.id}: {instance.state}{_drained(instance)}, {instance.version}" for instance in instances]
    lines += [f"task worker {worker.host} pid {worker.pid}: {worker.state}" for worker in workers]
    if not instances:
        return Section(OK, "none yet", "no web instance has reported a heartbeat yet", lines=lines, data=data)
    status = FAILING if not serving else DRAINING if draining else OK
    detail = "; ".join(
        [f"{instance.id} draining{_drained(instance)}" for instance in instances if instance.state == fleet.DRAINING]
        + ([f"{stopped} stopped"] if stopped else [])
        + ([f"{gone} gone"] if gone else [])
    )
    return Section(status, f"{serving:,} serving", detail or "none draining", lines=lines, data=data)


def _drained(instance):
    """ " (by alice, 3 min ago)" for a drained instance."""
    if instance.drain_requested_at is None:
        return ""
    return f" (by {instance.drained_by or 'someone'}, {humanize.ago(instance.drain_requested_at)})"
