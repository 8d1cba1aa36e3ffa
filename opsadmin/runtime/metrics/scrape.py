"""What a scrape reads at that moment, and the exposition itself.

Read when scraped, by the process answering the scrape:
- each circuit breaker's state, as this process sees it (it rereads the fleet's shared state in Redis at most
  every PORTAL_BREAKER_SYNC_SECONDS): one gauge per breaker and state, 1 for the current one;
- the memory limits the instance's workers act on, from settings, so an alert compares each worker's memory
  with the configured limit rather than a number of its own (absent when unset: no limit, nothing to exceed);
- whether this instance is drained or shutting down, so an alert on readiness can tell a drain someone asked
  for from a failure (left out while the database does not answer: then it is not a drain that failed it);
- ops runs by operation and status, from the audit log (OpsRun): every door, the task worker and the command
  channel record runs there, whichever process finishes them, so counting the log is the one count that is
  right for the fleet; a counter in the finishing process would miss the task worker's runs, which no scrape
  of a web worker sees. Finished runs are a counter (the log is never pruned); unfinished ones a gauge;
- the task queue's depth: tasks ready to run (django-tasks-db's table, through its partial index on them);
- when a task worker last beat, as a Unix time (0 when none is known: one that stopped cleanly deleted its
  row), so an alert can tell queued work nobody takes; a timestamp, not an age, as the figure is cached.
The last three are the fleet's, the same on every instance (aggregate them with max, not sum), and cost one
GROUP BY each: they are read at most every FLEET_SECONDS per process, however often it is scraped, and left
out of a scrape while the database does not answer (a scrape never fails for them).

Everything else is recorded as it happens (opsadmin.runtime.metrics): under gunicorn, read back from every
worker's files in PROMETHEUS_MULTIPROC_DIR (the dead ones' counts folded into archives there), so whichever worker
answers the scrape reports the instance.
"""

import logging
import os
import threading
import time

from django.db import DatabaseError
from django.db.models import Count
from django.tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult
from prometheus_client import REGISTRY, CollectorRegistry, exposition, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from opsadmin.models import OpsRun
from opsadmin.runtime import breakers, drain, fleet, memory_limits
from opsadmin.runtime.breakers import CLOSED, HALF_OPEN, OPEN

logger = logging.getLogger(__name__)

FLEET_SECONDS = 15.0  # a fleet figure is read from the database at most this often per process
BREAKER_STATES = (CLOSED, OPEN, HALF_OPEN)
FINISHED = (OpsRun.Status.SUCCEEDED, OpsRun.Status.FAILED, OpsRun.Status.PARTLY_FAILED, OpsRun.Status.REFUSED)


def multiprocess_dir():
    """The directory the workers write their values to, or "" outside gunicorn's multiprocess mode."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def exposition_of(accept_header):
    """(body, content type) of a scrape: every metric of this instance, in the format the scraper accepts."""
    registry = CollectorRegistry()
    if directory := multiprocess_dir():
        registry.register(_Read(workers_values(directory)))
    else:
        registry.register(_ThisProcess())
    registry.register(ScrapeTimeCollector())
    encode, content_type = exposition.choose_encoder(accept_header or "")
    return encode(registry), content_type


def workers_values(directory):
    """Every worker's values, the dead ones' counts included (in the archives), read while no fold runs: a fold
    in between could hide a dead worker's counts or count them twice (portal/metrics_files.py)."""
    from portal import metrics_files  # POSIX serving (flock): gunicorn's directory, none on the development path

    with metrics_files.reading(directory):
        return list(multiprocess.MultiProcessCollector(None, directory).collect())


class _Read(Collector):
    """Metric families read already (the lock on the directory is not held while the exposition is made)."""

    def __init__(self, families):
        self.families = families

    def collect(self):
        return self.families


class _ThisProcess(Collector):
    """The process's own registry (its instruments, and the client's process and platform collectors)."""

    def collect(self):
        return REGISTRY.collect()


class ScrapeTimeCollector(Collector):
    def collect(self):
        yield breaker_states()
        yield memory_limit_bytes()
        if (draining := draining_state()) is not None:
            yield draining
        figures = fleet_figures()
        if figures is not None:
            yield from figures


def breaker_states():
    family = GaugeMetricFamily(
        "portal_breaker_state",
        "1 for each circuit breaker's current state as this process sees it (closed, open, half-open), 0 else.",
        labels=["breaker", "state"],
    )
    for breaker in breakers.every():
        current = breaker.current_state
        for state in BREAKER_STATES:
            family.add_metric([breaker.name, state], 1 if state == current else 0)
    return family


def memory_limit_bytes():
    family = GaugeMetricFamily(
        "portal_worker_memory_limit_bytes",
        "Each web worker's memory limits (PORTAL_MEMORY_SOFT_LIMIT: a full collection above it; "
        "PORTAL_MEMORY_HARD_LIMIT: a graceful recycle), by limit (soft, hard); absent when unset.",
        labels=["limit"],
    )
    configured = memory_limits.limits()
    for limit in ("soft", "hard"):
        if configured[f"{limit}_bytes"]:
            family.add_metric([limit], configured[f"{limit}_bytes"])
    return family


def draining_state():
    """1 while this instance is drained or shutting down, else 0; None while the database does not answer."""
    try:
        draining = drain.current_instance_is_draining()
    except (DatabaseError, breakers.Unavailable) as error:
        logger.debug("Metrics: the drain state left out of this scrape: %s", error)
        return None
    return GaugeMetricFamily(
        "portal_draining",
        "1 while this instance is out of the load balancer on purpose (drained, or shutting down), else 0.",
        value=1 if draining else 0,
    )


_lock = threading.Lock()
_fleet = {"read_at": float("-inf"), "families": None}


def fleet_figures():
    """The fleet's figures (ops runs, the task queue), read at most every FLEET_SECONDS; None while the database
    does not answer."""
    with _lock:
        if time.monotonic() - _fleet["read_at"] < FLEET_SECONDS:
            return _fleet["families"]
        try:
            families = [*_ops_runs(), _task_queue(), _task_worker_seen()]
        except (DatabaseError, breakers.Unavailable) as error:
            logger.debug("Metrics: the fleet's figures left out of this scrape: %s", error)
            families = None
        _fleet.update(read_at=time.monotonic(), families=families)
        return families


def forget():
    """Read the fleet's figures afresh at the next scrape (tests)."""
    with _lock:
        _fleet.update(read_at=float("-inf"), families=None)


def _ops_runs():
    finished = CounterMetricFamily(
        "portal_ops_runs",
        "Ops runs finished, by operation and status (the audit log's, for the whole fleet).",
        labels=["operation", "status"],
    )
    unfinished = GaugeMetricFamily(
        "portal_ops_runs_unfinished",
        "Ops runs requested, queued or running now, by operation and status (the whole fleet's).",
        labels=["operation", "status"],
    )
    rows = OpsRun.objects.order_by().values_list("operation", "status").annotate(count=Count("id"))
    for operation, status, count in rows:
        (finished if status in FINISHED else unfinished).add_metric([operation, status], count)
    return finished, unfinished


def _task_queue():
    family = GaugeMetricFamily(
        "portal_task_queue_depth",
        "Tasks ready to run, waiting for the task worker, by queue (the whole fleet's).",
        labels=["queue"],
    )
    ready = DBTaskResult.objects.filter(status=TaskResultStatus.READY).order_by().values_list("queue_name")
    for queue, count in ready.annotate(count=Count("id")):
        family.add_metric([queue], count)
    return family


def _task_worker_seen():
    last_seen = fleet.task_worker_last_seen()
    return GaugeMetricFamily(
        "portal_task_worker_last_seen_timestamp_seconds",
        "When a task worker last beat, as a Unix time; 0 when none is known (the whole fleet's).",
        value=last_seen.timestamp() if last_seen else 0,
    )
