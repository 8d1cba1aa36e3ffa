"""The fleet as the heartbeats left it: instances, their processes, and which of them are alive.

An instance whose server stopped cleanly (SIGTERM) since its last beat is stopped; one not
seen for PORTAL_INSTANCE_GONE_SECONDS without saying so is gone (both win over draining: a
drained instance that stopped is stopped); a process not seen for that long is gone.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from opsadmin.models import Instance, InstanceWorker
from opsadmin.runtime import identity
from opsadmin.runtime.heartbeat import TASK, TASK_WORKER_PORT, WEB
from opsadmin.runtime.identity import this_instance_id

SERVING, DRAINING, STOPPED, GONE = "serving", "draining", "stopped", "gone"  # instance states
ALIVE = "alive"  # process states: ALIVE or GONE


def gone_seconds():
    return float(settings.PORTAL_INSTANCE_GONE_SECONDS)


@dataclass
class WorkerStatus:
    pid: int
    kind: str
    state: str  # ALIVE or GONE
    started_at: datetime
    last_seen_at: datetime
    rss_bytes: int | None


@dataclass
class InstanceStatus:
    id: str
    host: str
    port: str
    version: str
    state: str  # SERVING, DRAINING, STOPPED or GONE
    current: bool  # the instance of the process answering
    started_at: datetime
    last_seen_at: datetime
    drain_requested_at: datetime | None
    drained_by: str
    workers: list[WorkerStatus]
    serves_traffic: bool  # False for a host's task workers: no load balancer sends them requests


def instance_state(instance, now=None):
    """STOPPED when its server said so after its last beat, GONE when not seen for PORTAL_INSTANCE_GONE_SECONDS,
    else DRAINING or SERVING."""
    now = now or timezone.now()
    if instance.stopped_at is not None and instance.stopped_at >= instance.last_seen_at:
        return STOPPED
    if instance.last_seen_at < now - timedelta(seconds=gone_seconds()):
        return GONE
    return DRAINING if instance.drain_requested_at is not None else SERVING


def list_instances(now=None):
    """Every known instance with its workers and state, ordered by id (two queries)."""
    now = now or timezone.now()
    gone_before = now - timedelta(seconds=gone_seconds())
    current = this_instance_id()
    result = []
    for instance in Instance.objects.prefetch_related("workers").order_by("id"):
        workers = [
            WorkerStatus(
                pid=worker.pid,
                kind=worker.kind,
                state=GONE if worker.last_seen_at < gone_before else ALIVE,
                started_at=worker.started_at,
                last_seen_at=worker.last_seen_at,
                rss_bytes=worker.rss_bytes,
            )
            for worker in sorted(instance.workers.all(), key=lambda worker: (worker.kind, worker.pid))
        ]
        result.append(
            InstanceStatus(
                id=instance.id,
                host=instance.host,
                port=instance.port,
                version=instance.version,
                state=instance_state(instance, now),
                current=instance.id == current,
                started_at=instance.started_at,
                last_seen_at=instance.last_seen_at,
                drain_requested_at=instance.drain_requested_at,
                drained_by=instance.drained_by,
                workers=workers,
                serves_traffic=instance.port != TASK_WORKER_PORT,
            )
        )
    return result


@dataclass
class TaskWorker:
    """A task worker process: it takes queued runs, not traffic."""

    host: str
    pid: int
    state: str  # ALIVE or GONE
    last_seen_at: datetime
    rss_bytes: int | None
    version: str


def task_workers(instances):
    """The task worker processes among `instances` (list_instances()), host by host."""
    return [
        TaskWorker(instance.host, worker.pid, worker.state, worker.last_seen_at, worker.rss_bytes, instance.version)
        for instance in instances
        if not instance.serves_traffic
        for worker in instance.workers
    ]


def known_instance_ids():
    """Every serving instance id (not the task workers'), for validating what a caller asks to drain."""
    return list(Instance.objects.exclude(port=TASK_WORKER_PORT).order_by("pk").values_list("pk", flat=True))


def live_web_processes(now=None):
    """(instance id, pid) of every web process seen within PORTAL_INSTANCE_GONE_SECONDS, drained ones included."""
    now = now or timezone.now()
    alive = InstanceWorker.objects.filter(kind=WEB, last_seen_at__gte=now - timedelta(seconds=gone_seconds()))
    return list(alive.order_by("instance_id", "pid").values_list("instance_id", "pid"))


def task_worker_last_seen():
    """When a task worker last beat (None if never): the readiness check's sign that queued work runs."""
    return InstanceWorker.objects.filter(kind=TASK).aggregate(last=Max("last_seen_at"))["last"]


def silent_process(label, now=None):
    """Why the process named `label` (identity.process_label) seems dead ("web-1:8000 pid 42 has not been seen
    for 95 s"), or "" while it beats or when no heartbeat watches it (a command's own process)."""
    process = identity.parse_process_label(label)
    if process is None:
        return ""
    last_seen = (
        InstanceWorker.objects.filter(instance_id=process[0], pid=process[1])
        .values_list("last_seen_at", flat=True)
        .first()
    )
    silent = ((now or timezone.now()) - last_seen).total_seconds() if last_seen else None
    if silent is None or silent <= gone_seconds():
        return ""
    return f"its process {label} has not been seen for {silent:,.0f} s: it was probably stopped mid-run"


def no_task_worker(now=None):
    """Why queued work would wait forever ("no task worker has been seen for 95 s"), or "" while one beats."""
    now = now or timezone.now()
    last_seen = task_worker_last_seen()
    if last_seen is None:
        return "no task worker has ever been seen (start one: manage.py ops_worker)"
    silent = (now - last_seen).total_seconds()
    if silent > gone_seconds():
        return f"no task worker has been seen for {silent:,.0f} s"
    return ""
