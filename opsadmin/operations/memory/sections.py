"""The memory capability's read: every live worker of every instance with the figures it published, and the machines.

How it stands, and why:
- failing: a worker above its hard limit (the limit should have recycled it: it is not acting),
  or a machine or container at CRITICAL_PERCENT or more of its memory (the OOM killer is next);
- warning: a worker above its soft limit (each sample collects garbage until it is not), or a
  machine or container at PORTAL_MEMORY_WARN_PERCENT or more (the health check's threshold);
- ok otherwise, also before any worker has published figures (nothing known to be wrong).
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from opsadmin.models import InstanceWorker
from opsadmin.runtime import fleet, memory
from opsadmin.spine import humanize
from opsadmin.spine.results import FAILING, OK, WARNING, Section

CRITICAL_PERCENT = 98.0


@dataclass
class Worker:
    """One live process and what it last published (`figures`: {} until it first does)."""

    instance: str
    pid: int
    kind: str  # web or task
    host: str
    process: str  # "web-1:8000 pid 42": how writes name it
    last_seen_at: datetime
    rss_bytes: int | None
    figures: dict
    over_soft: bool
    over_hard: bool


@dataclass
class Machine:
    """A host's memory as its most recently sampled worker saw it; `figures` keyed as the workers publish them."""

    host: str
    figures: dict
    cgroup_percent: float | None  # the container's usage of its limit, when it has one


@dataclass
class FleetMemory:
    this_process: dict  # the figures of the process that answered
    workers: list[Worker]  # problems first, then by instance and pid
    total_rss_bytes: int
    largest: Worker | None
    machines: list[Machine]
    warn_percent: float
    problems: list[str] = field(default_factory=list)


def fleet_memory(now=None):
    """Every live worker's memory, the fleet's total, the largest worker and each machine (see the module)."""
    workers = live_workers(now)
    machines = _machines(workers)
    warn = float(settings.PORTAL_MEMORY_WARN_PERCENT)
    critical = _machine_pressure(machines, CRITICAL_PERCENT)
    failing = [f"{w.process} above its hard limit ({_rss_of(w)})" for w in workers if w.over_hard]
    failing += [f"{text} (the OOM killer is next)" for text in critical]
    warning = [f"{w.process} above its soft limit ({_rss_of(w)})" for w in workers if w.over_soft and not w.over_hard]
    warning += [text for text in _machine_pressure(machines, warn) if text not in critical]
    total = sum(worker.rss_bytes or 0 for worker in workers)
    largest = max(workers, key=lambda worker: worker.rss_bytes or 0, default=None)
    workers.sort(key=lambda worker: (not worker.over_hard, not worker.over_soft, worker.instance, worker.pid))
    data = FleetMemory(memory.figures(), workers, total, largest, machines, warn, failing + warning)
    lines = [*data.problems, *(_line(worker) for worker in workers), *(_machine_line(m) for m in machines)]
    if not workers:
        return Section(OK, "no worker yet", "no live worker has reported a heartbeat", lines=lines, data=data)
    headline = f"{humanize.byte_size(total)} in {humanize.plural(len(workers), 'worker')}"
    largest_text = f"largest {largest.process}: {_rss_of(largest)}"
    status = FAILING if failing else WARNING if warning else OK
    return Section(status, headline, "; ".join([*data.problems, largest_text]), lines=lines, data=data)


def live_workers(now=None):
    """Every web and task worker seen within PORTAL_INSTANCE_GONE_SECONDS, with its published figures (one query)."""
    since = (now or timezone.now()) - timedelta(seconds=fleet.gone_seconds())
    rows = InstanceWorker.objects.filter(last_seen_at__gte=since).select_related("instance").order_by("instance", "pid")
    return [_worker(row) for row in rows]


def _worker(row):
    figures = row.figures or {}
    rss = figures.get("rss_bytes", row.rss_bytes)
    limits = figures.get("limits") or {}
    soft, hard = limits.get("soft_bytes"), limits.get("hard_bytes")
    return Worker(
        instance=row.instance_id,
        pid=row.pid,
        kind=row.kind,
        host=row.instance.host,
        process=f"{row.instance_id} pid {row.pid}",
        last_seen_at=row.last_seen_at,
        rss_bytes=rss,
        figures=figures,
        over_soft=bool(soft and rss and rss > soft),
        over_hard=bool(hard and rss and rss > hard),
    )


def _machines(workers):
    """One per host, from the figures its most recently sampled worker published."""
    newest = {}
    for worker in workers:
        machine = worker.figures.get("machine")
        if machine and worker.figures.get("sampled_at", "") >= newest.get(worker.host, ("",))[0]:
            newest[worker.host] = (worker.figures.get("sampled_at", ""), machine)
    return [Machine(host, machine, _cgroup_percent(machine)) for host, (_, machine) in sorted(newest.items())]


def _cgroup_percent(machine):
    limit, usage = machine.get("cgroup_limit_bytes"), machine.get("cgroup_usage_bytes")
    return round(100 * usage / limit, 1) if limit and usage is not None else None


def _machine_pressure(machines, percent):
    """ "web-1: memory 93 % used", "web-1: container at 95 % of its limit": the machines at `percent` or more."""
    found = []
    for machine in machines:
        if (machine.figures.get("percent") or 0) >= percent:
            found.append(f"{machine.host}: memory {machine.figures['percent']:g} % used")
        if machine.cgroup_percent is not None and machine.cgroup_percent >= percent:
            found.append(f"{machine.host}: container at {machine.cgroup_percent:g} % of its limit")
    return found


def _rss_of(worker):
    return f"{humanize.byte_size(worker.rss_bytes)} RSS"


def _line(worker):
    """ "web-1:8000 pid 42 (web): 120.5 MiB RSS, 80.2 MiB USS, 6 threads, 1,234 requests" """
    figures = worker.figures
    if not figures:
        return f"{worker.process} ({worker.kind}): {_rss_of(worker)}, no figures published yet"
    parts = [_rss_of(worker), humanize.named_figure(figures.get("uss_bytes"), "USS", humanize.byte_size)]
    parts.append(humanize.plural(figures.get("threads"), "thread"))
    if figures.get("requests_served") is not None:
        parts.append(humanize.plural(figures["requests_served"], "request"))
    return f"{worker.process} ({worker.kind}): {', '.join(parts)}"


def _machine_line(machine):
    figures = machine.figures
    text = (
        f"machine {machine.host}: {humanize.byte_size(figures.get('used_bytes'))} used of "
        f"{humanize.byte_size(figures.get('total_bytes'))} ({humanize.percentage(figures.get('percent'))}), "
        f"{humanize.byte_size(figures.get('available_bytes'))} available"
    )
    if figures.get("cgroup_limit_bytes"):
        text += f"; container {humanize.byte_size(figures.get('cgroup_usage_bytes'))} of "
        text += f"{humanize.byte_size(figures['cgroup_limit_bytes'])}"
    return text
