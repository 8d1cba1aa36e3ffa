"""Which processes serve where, and whether this one should leave the load balancer.

Every serving process beats (`record_heartbeat`) at most every `PORTAL_HEARTBEAT_SECONDS`:
its instance ("host:port") and its own worker row (by pid) are marked seen now. The
admin reads them back with `list_instances`. Draining is a column of the instance row,
not process memory, so it survives a restart until someone resumes the instance;
readiness reads it through a short in-process cache (`current_instance_is_draining`).

Settings: PORTAL_HEARTBEAT_SECONDS (5), PORTAL_DRAIN_CACHE_SECONDS (2),
PORTAL_INSTANCE_GONE_SECONDS (60). The version shown is PORTAL_VERSION from the
environment, else the checked-out git commit, else "dev".
"""

import functools
import logging
import os
import string
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Max, Value, When
from django.utils import timezone

from opsadmin.models import Instance, InstanceWorker

logger = logging.getLogger(__name__)

SERVING, DRAINING, GONE = "serving", "draining", "gone"  # instance states
TASK_WORKER_PORT = "worker"  # task workers have no port: each host's workers form the instance "host:worker"
ALIVE = "alive"  # worker states: ALIVE or GONE
WEB, TASK = InstanceWorker.Kind.WEB.value, InstanceWorker.Kind.TASK.value
SHORT_COMMIT = 7
MAX_PORT_LENGTH = Instance._meta.get_field("port").max_length
MAX_HOST_LENGTH = Instance._meta.get_field("id").max_length - MAX_PORT_LENGTH - 1

_clock = time.monotonic  # tests replace it to step over the interval without sleeping
_lock = threading.Lock()
_last_beat = None  # ((pid, instance id, kind), clock time) of this process's last beat
_instance_id = None  # "host:port" of this process, known from its first beat
_drain_cache = None  # (instance id, clock time it expires, draining)
_drain_generation = 0  # bumped on invalidation, so a read racing a drain can't cache the old answer
_shutting_down = False


def heartbeat_interval():
    return float(settings.PORTAL_HEARTBEAT_SECONDS)


def drain_cache_seconds():
    return float(settings.PORTAL_DRAIN_CACHE_SECONDS)


def gone_seconds():
    return float(settings.PORTAL_INSTANCE_GONE_SECONDS)


# --- this process -------------------------------------------------------------------------


@functools.cache
def app_version():
    """The running code's version, read once per process: it can't change under a running process."""
    return os.environ.get("PORTAL_VERSION", "").strip() or git_commit(Path(settings.BASE_DIR)) or "dev"


def git_commit(repo):
    """The short commit checked out in `repo`, read from .git files (no subprocess), or None."""
    try:
        git_dir = repo / ".git"
        if git_dir.is_file():  # a worktree or submodule: ".git" says "gitdir: <path>"
            git_dir = repo / git_dir.read_text().removeprefix("gitdir:").strip()
        head = (git_dir / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return _short(head)  # detached HEAD holds the commit itself
        ref = head.removeprefix("ref:").strip()
        common_dir = git_dir
        if (git_dir / "commondir").is_file():  # a worktree keeps its branches in the main repository
            common_dir = git_dir / (git_dir / "commondir").read_text().strip()
        for base in dict.fromkeys([git_dir, common_dir]):
            if (base / ref).is_file():
                return _short((base / ref).read_text().strip())
        for line in (common_dir / "packed-refs").read_text().splitlines():
            commit, _, name = line.partition(" ")
            if name == ref:
                return _short(commit)
    except (OSError, UnicodeDecodeError):
        return None
    return None


def _short(commit):
    if len(commit) >= SHORT_COMMIT and all(c in string.hexdigits for c in commit):
        return commit[:SHORT_COMMIT]
    return None


def _process_facts(now):
    """(start time, resident memory) of this process; psutil reads /proc, no subprocess."""
    try:
        process = psutil.Process()
        return datetime.fromtimestamp(process.create_time(), tz=UTC), process.memory_info().rss
    except psutil.Error:
        return now, None


def this_instance_id():
    """ "host:port" of this process once its first heartbeat named it, else None."""
    return _instance_id


def mark_shutting_down():
    """Graceful shutdown: from now on readiness says draining, so the balancer stops sending traffic."""
    global _shutting_down
    _shutting_down = True
    invalidate_drain_cache()


def reset_process_state():
    """Forget everything kept in memory, as a new process would (after fork, and in tests)."""
    global _lock, _last_beat, _instance_id, _drain_cache, _shutting_down
    _lock = threading.Lock()  # a lock held by another thread at fork time would stay held forever
    _last_beat = _instance_id = _drain_cache = None
    _shutting_down = False


if hasattr(os, "register_at_fork"):
    # gunicorn --preload forks workers from a master that may have beaten already.
    os.register_at_fork(after_in_child=reset_process_state)


# --- heartbeats ---------------------------------------------------------------------------


def record_heartbeat(host, port, kind=WEB, *, force=False):
    """Mark this process and its instance seen now, at most once per interval; never raises.

    Runs on every request, so the usual path is a clock read under a lock and no
    database access. A beat is two queries (three on a process's first beat). A
    database error is logged and swallowed: a heartbeat must never break the request
    that carries it. Returns whether it wrote. `force` skips the interval (the task
    worker's heartbeat thread keeps its own time).
    """
    global _last_beat, _instance_id
    host, port = str(host)[:MAX_HOST_LENGTH], str(port)[:MAX_PORT_LENGTH]
    instance_id = f"{host}:{port}"
    identity = (os.getpid(), instance_id, kind)
    now = _clock()
    with _lock:
        previous = _last_beat
        if not force and previous and previous[0] == identity and now - previous[1] < heartbeat_interval():
            return False
        _last_beat = (identity, now)  # claimed before writing: other threads skip while this one writes
        _instance_id = instance_id
    try:
        _write_heartbeat(instance_id, host, port, kind, first=previous is None or previous[0] != identity)
    except Exception:
        logger.exception("Heartbeat of %s (pid %s) not recorded", instance_id, os.getpid())
        return False
    return True


def _write_heartbeat(instance_id, host, port, kind, *, first):
    now = timezone.now()
    started, rss = _process_facts(now)
    gone_before = now - timedelta(seconds=gone_seconds())
    version = app_version()
    found = Instance.objects.filter(pk=instance_id).update(
        host=host,
        port=port,
        version=version,
        last_seen_at=now,
        # The first beat after the instance was gone starts a new run; the drain columns are never touched.
        started_at=Case(When(last_seen_at__lt=gone_before, then=Value(started)), default=F("started_at")),
    )
    if not found:
        # Upsert: two processes of a new instance may both get here.
        instance = Instance(id=instance_id, host=host, port=port, version=version, started_at=started, last_seen_at=now)
        Instance.objects.bulk_create(
            [instance],
            update_conflicts=True,
            unique_fields=["id"],
            update_fields=["host", "port", "version", "last_seen_at"],
        )
    elif first:
        # Once per process: forget workers of this instance that stopped beating (restarts, recycled workers).
        InstanceWorker.objects.filter(instance_id=instance_id, last_seen_at__lt=gone_before).delete()
    worker = InstanceWorker(
        instance_id=instance_id, pid=os.getpid(), kind=kind, started_at=started, last_seen_at=now, rss_bytes=rss
    )
    InstanceWorker.objects.bulk_create(
        [worker],
        update_conflicts=True,
        unique_fields=["instance", "pid"],
        update_fields=["kind", "started_at", "last_seen_at", "rss_bytes"],
    )


# --- draining -----------------------------------------------------------------------------


def current_instance_is_draining():
    """Whether readiness should answer 503: this instance is drained, or this process is shutting down.

    Readiness asks on every probe, so the answer is kept for PORTAL_DRAIN_CACHE_SECONDS;
    a drain or resume made in this process clears it at once, one made elsewhere is
    seen within that time. False until a heartbeat has named this process's instance.
    A database error propagates: the caller decides what an unknown state means.
    """
    global _drain_cache
    if _shutting_down:
        return True
    instance_id = _instance_id
    if instance_id is None:
        return False
    cached, now = _drain_cache, _clock()
    if cached is not None and cached[0] == instance_id and now < cached[1]:
        return cached[2]
    generation = _drain_generation
    draining = Instance.objects.filter(pk=instance_id, drain_requested_at__isnull=False).exists()
    if generation == _drain_generation:
        _drain_cache = (instance_id, now + drain_cache_seconds(), draining)
    return draining


def invalidate_drain_cache():
    """Make the next `current_instance_is_draining` read the database."""
    global _drain_cache, _drain_generation
    _drain_generation += 1
    _drain_cache = None


class UnknownInstances(LookupError):
    """Some of the instance ids given don't exist; nothing was changed."""

    def __init__(self, ids):
        self.ids = list(ids)
        super().__init__(f"Unknown instance{'s' if len(self.ids) != 1 else ''}: {', '.join(self.ids)}")


@dataclass
class DrainReport:
    """What a drain or resume changed: `changed` ids, and those `already` in that state."""

    action: str  # "drain" or "resume"
    changed: list[str]
    already: list[str]
    summary: str = field(init=False)

    def __post_init__(self):
        done, state = ("Drained", "draining") if self.action == "drain" else ("Resumed", "serving")
        parts = []
        if self.changed:
            parts.append(f"{done} {_id_list(self.changed)}")
        if self.already:
            parts.append(f"already {state}: {_id_list(self.already)}")
        self.summary = "; ".join(parts) or "No instances given"


def _id_list(ids, shown=5):
    more = len(ids) - shown
    return ", ".join(ids[:shown]) + (f" and {more} more" if more > 0 else "")


def known_instance_ids():
    """Every serving instance id (not the task workers'), for validating what a caller asks to drain."""
    return list(Instance.objects.exclude(port=TASK_WORKER_PORT).order_by("pk").values_list("pk", flat=True))


def drain(instance_ids, actor_label):
    """Take instances out of the load balancer: their readiness answers 503 while they keep serving.

    All or nothing: an unknown id raises UnknownInstances and changes nothing.
    """
    return _set_draining(instance_ids, True, actor_label)


def resume(instance_ids):
    """Put drained instances back: their readiness answers from their checks again."""
    return _set_draining(instance_ids, False, "")


def _set_draining(instance_ids, draining, actor_label):
    ids = list(dict.fromkeys(str(instance_id) for instance_id in instance_ids))
    with transaction.atomic():
        rows = Instance.objects.select_for_update().filter(pk__in=ids)
        requested = dict(rows.values_list("pk", "drain_requested_at"))
        unknown = [instance_id for instance_id in ids if instance_id not in requested]
        if unknown:
            raise UnknownInstances(unknown)
        changed = [instance_id for instance_id in ids if (requested[instance_id] is None) == draining]
        if changed:
            Instance.objects.filter(pk__in=changed).update(
                drain_requested_at=timezone.now() if draining else None,
                drained_by=actor_label[: Instance._meta.get_field("drained_by").max_length],
            )
        transaction.on_commit(invalidate_drain_cache)  # a read between now and the commit may cache the old state
    invalidate_drain_cache()
    return DrainReport(
        action="drain" if draining else "resume",
        changed=changed,
        already=[instance_id for instance_id in ids if instance_id not in changed],
    )


# --- reading ------------------------------------------------------------------------------


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
    state: str  # SERVING, DRAINING or GONE (gone wins: a drained instance that stopped is gone)
    current: bool  # the instance of the process answering
    started_at: datetime
    last_seen_at: datetime
    drain_requested_at: datetime | None
    drained_by: str
    workers: list[WorkerStatus]
    serves_traffic: bool  # False for a host's task workers: no load balancer sends them requests

    def to_dict(self):
        """A JSON-ready dict: datetimes as ISO 8601 strings."""
        return _iso(asdict(self))


def _iso(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _iso(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_iso(item) for item in value]
    return value


def instance_state(instance, now=None):
    """GONE when not seen for PORTAL_INSTANCE_GONE_SECONDS, else DRAINING or SERVING."""
    now = now or timezone.now()
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
        state = instance_state(instance, now)
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
                state=state,
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


def task_worker_last_seen():
    """When a task worker last beat (None if never): the readiness check's sign that queued work runs."""
    return InstanceWorker.objects.filter(kind=TASK).aggregate(last=Max("last_seen_at"))["last"]
