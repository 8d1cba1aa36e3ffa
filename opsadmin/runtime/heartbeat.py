"""Heartbeats, and the thread each serving process and task worker runs for itself.

Every process beats (`record_heartbeat`) at most every PORTAL_HEARTBEAT_SECONDS: its
instance ("host:port") and its own worker row (by pid) are marked seen now, the row
carrying the process's memory figures (opsadmin.runtime.memory), and its RSS is added
to the memory history. Which instance a web process is comes from its configuration
(identity.configured_instance: PORTAL_INSTANCE_ID or the host name, and PORTAL_BIND's
port), never from a request: on a unix socket gunicorn makes SERVER_PORT up from the Host
header, and forged headers made instances. A web process beats from a middleware placed
early and from its own `ProcessThread`, so an idle worker stays known, and runs whatever
the layers above hang on `ON_TICK` (the command channel), idle or not. A gunicorn worker
starts that thread as soon as it is up (portal/gunicorn.conf.py), and deletes its row as
it exits (`forget_this_process`). The task worker starts the same thread as "host:worker".

Only processes serving through portal.wsgi (runserver, gunicorn) start a thread:
`serve_in_background()` says so. A test client or a test live server never does.
"""

import logging
import os
import sys
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from opsadmin.models import Instance, InstanceWorker
from opsadmin.runtime import breakers, identity, memory, memory_history, thread_connections
from opsadmin.runtime.metrics import WORKER_MEMORY

logger = logging.getLogger(__name__)

WEB, TASK = InstanceWorker.Kind.WEB.value, InstanceWorker.Kind.TASK.value
TASK_WORKER_PORT = "worker"  # task workers have no port: each host's workers form the instance "host:worker"
MAX_PORT_LENGTH = Instance._meta.get_field("port").max_length
MAX_HOST_LENGTH = Instance._meta.get_field("id").max_length - MAX_PORT_LENGTH - 1
OUTAGE_LOG_SECONDS = 60  # a database outage is logged once a minute by each process, not once a beat

# Set in a request's WSGI environ when no server sent it (the preloading master's warm-up): no beat.
NOT_SERVED = "opsadmin.not_served"

# What every process thread runs on each tick, after its beat (the spine adds the command channel).
ON_TICK = []

_clock = time.monotonic  # tests replace it to step over the interval without sleeping
_lock = threading.Lock()
_last_beat = None  # ((pid, instance id, kind), clock time) of this process's last beat
_serving = False  # this process serves through portal.wsgi: its web workers run a ProcessThread
_thread = None  # this process's ProcessThread, once started
_thread_lock = threading.Lock()
_outage_logged_at = float("-inf")  # when this process last logged a beat lost to a database outage
_leaving = threading.Event()  # this worker is exiting, finishing its requests: no more beats, no more work


def heartbeat_interval():
    return float(settings.PORTAL_HEARTBEAT_SECONDS)


def record_heartbeat(host, port, kind=WEB, *, force=False):
    """Mark this process and its instance seen now, at most once per interval; never raises.

    Runs on every request, so the usual path is a clock read under a lock and no
    database access. A beat is three queries (four on a process's first beat, one more
    a minute to prune the memory history). A database error is logged and swallowed: a
    heartbeat must never break the request that carries it. Returns whether it wrote. `force` skips the interval.
    """
    global _last_beat
    if _leaving.is_set():
        return False
    host, port = str(host)[:MAX_HOST_LENGTH], str(port)[:MAX_PORT_LENGTH]
    instance_id = f"{host}:{port}"
    beat = (os.getpid(), instance_id, kind)
    now = _clock()
    with _lock:
        previous = _last_beat
        if not force and previous and previous[0] == beat and now - previous[1] < heartbeat_interval():
            return False
        _last_beat = (beat, now)  # claimed before writing: other threads skip while this one writes
        identity.name_instance(instance_id)
    try:
        _write_heartbeat(instance_id, host, port, kind, first=previous is None or previous[0] != beat)
    except (OperationalError, InterfaceError) as error:  # an outage: a line a minute, not a traceback a beat
        _log_outage(instance_id, error)
        return False
    except Exception:
        logger.exception("Heartbeat of %s (pid %s) not recorded", instance_id, os.getpid())
        return False
    return True


def _log_outage(instance_id, error):
    global _outage_logged_at
    now = time.monotonic()
    if now - _outage_logged_at >= OUTAGE_LOG_SECONDS:
        _outage_logged_at = now
        reason = str(error).partition("\n")[0]
        pid = os.getpid()
        logger.warning("Heartbeat of %s (pid %s) not recorded: %s (logged once a minute)", instance_id, pid, reason)


def _write_heartbeat(instance_id, host, port, kind, *, first):
    now = timezone.now()
    started, rss = identity.process_facts(now)
    gone_before = now - timedelta(seconds=float(settings.PORTAL_INSTANCE_GONE_SECONDS))
    version = identity.app_version()
    found = Instance.objects.filter(pk=instance_id).update(
        host=host,
        port=port,
        version=version,
        last_seen_at=now,
        stopped_at=None,
        # The first beat after the instance was gone or stopped starts a new run; the drain columns are never touched.
        started_at=Case(
            When(Q(last_seen_at__lt=gone_before) | Q(stopped_at__isnull=False), then=Value(started)),
            default=F("started_at"),
        ),
    )
    if not found:
        # Upsert: two processes of a new instance may both get here.
        instance = Instance(id=instance_id, host=host, port=port, version=version, started_at=started, last_seen_at=now)
        Instance.objects.bulk_create(
            [instance],
            update_conflicts=True,
            unique_fields=["id"],
            update_fields=["host", "port", "version", "last_seen_at", "stopped_at"],
        )
    elif first:
        # Once per process: forget workers of this instance that stopped beating (restarts, recycled workers).
        InstanceWorker.objects.filter(instance_id=instance_id, last_seen_at__lt=gone_before).delete()
    figures = memory.figures()
    rss = figures.get("rss_bytes", rss)
    if rss is not None:
        WORKER_MEMORY.set(rss)  # /metrics: each live worker's, at its latest beat
    worker = InstanceWorker(
        instance_id=instance_id,
        pid=os.getpid(),
        kind=kind,
        started_at=started,
        last_seen_at=now,
        rss_bytes=rss,
        figures=figures,
    )
    InstanceWorker.objects.bulk_create(
        [worker],
        update_conflicts=True,
        unique_fields=["instance", "pid"],
        update_fields=["kind", "started_at", "last_seen_at", "rss_bytes", "figures"],
    )
    if rss is not None:
        memory_history.record(instance_id, now, rss)


def beat_as_web_process():
    """A web process's beat as the instance its configuration names, starting its thread if it serves."""
    host, port = identity.configured_instance()
    record_heartbeat(host, port, WEB)
    if _serving:
        start_process_thread(port, WEB)


class HeartbeatMiddleware:
    """Records this process's heartbeat; no database access between beats."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if NOT_SERVED not in request.META:
            beat_as_web_process()
        return self.get_response(request)


def serve_in_background():
    """This process serves requests (portal.wsgi): its web processes run their own thread."""
    global _serving
    _serving = True


def start_web_process():
    """A freshly started web worker: named at once (a request may come before its first beat is written),
    then beating from its own thread, so it is listed, and takes the command channel's work, before its first
    request (a rolling recycle waits for that)."""
    host, port = identity.configured_instance()
    identity.name_instance(f"{host}:{port}")
    start_process_thread(port, WEB)


class ProcessThread(threading.Thread):
    """This process's own thread: beats as `port` of `kind`, then runs ON_TICK, every PORTAL_COMMAND_POLL_SECONDS.

    A daemon thread, so it never keeps a stopping process alive; `stop()` ends it sooner.
    Its database connection is its own, kept while it works whatever CONN_MAX_AGE says (thread_connections),
    and closed when it stops.
    """

    def __init__(self, port, kind):
        super().__init__(name=f"ops-process-{kind}", daemon=True)
        self.port, self.kind = port, kind
        self.stopped = threading.Event()
        self._last_error_log = float("-inf")

    def run(self):
        thread_connections.serve(thread_connections.HEARTBEAT)
        try:
            while not self.stopped.is_set() and not _leaving.is_set():
                self.tick()
                self.stopped.wait(float(settings.PORTAL_COMMAND_POLL_SECONDS))
            if _leaving.is_set():
                _remove_row()
        finally:
            connection.close()

    def tick(self):
        close_old_connections()
        record_heartbeat(identity.instance_host(), self.port, self.kind)
        for work in ON_TICK:
            try:
                work()
            except Exception:
                self._log_error(work)

    def _log_error(self, work):
        """A line a minute at most: a database outage must not flood the log once a second. A dependency its
        breaker keeps away is one line; anything else keeps its traceback."""
        now = time.monotonic()
        if now - self._last_error_log < OUTAGE_LOG_SECONDS:
            return
        self._last_error_log = now
        name = getattr(work, "__name__", work)
        error = sys.exc_info()[1]
        if isinstance(error, breakers.Unavailable):
            logger.warning("%s skipped in pid %s: %s (logged once a minute)", name, os.getpid(), error)
        else:
            logger.exception("%s failed in pid %s (logged once a minute)", name, os.getpid())

    def stop(self, timeout=5.0):
        self.stopped.set()
        self.join(timeout)


def start_process_thread(port, kind):
    """This process's ProcessThread, started once per process."""
    global _thread
    with _thread_lock:
        if _thread is None or not _thread.is_alive():
            _thread = ProcessThread(port, kind)
            _thread.start()
        return _thread


def leave():
    """This worker is exiting and finishing the requests it holds (gunicorn's SIGTERM: a recycle, a stop): it beats
    no more, and its thread stops taking work and removes its row at once, so nothing picks it meanwhile (a
    rolling recycle's next worker would be one that never answers). Only sets events: fit for a signal handler."""
    _leaving.set()
    if _thread is not None:
        _thread.stopped.set()


def forget_this_process():
    """This process is exiting: stop its thread and delete its worker row, so no page lists it as live
    while its last beat ages for PORTAL_INSTANCE_GONE_SECONDS. Never raises: an exit must not fail on it."""
    if _thread is not None:
        _thread.stop()
    _remove_row()


def _remove_row():
    """Delete this process's worker row, if it beat. Never raises: the database may be out."""
    if _last_beat is None:
        return
    (pid, instance_id, _kind), _at = _last_beat
    try:
        InstanceWorker.objects.filter(instance_id=instance_id, pid=pid).delete()
    except Exception as error:  # the database is out: the row ages out as before
        logger.warning("Worker row of %s (pid %s) not removed at exit: %s", instance_id, pid, error)
    finally:
        connection.close()


def mark_instance_stopped(instance_id):
    """The server of `instance_id` stopped cleanly: its pages say stopped, not gone, until its next beat.
    Never raises: a stop must not fail on it."""
    try:
        Instance.objects.filter(pk=instance_id).update(stopped_at=timezone.now())
    except Exception as error:  # the database is out: the instance will read as gone instead
        logger.warning("Instance %s not marked stopped: %s", instance_id, error)


def reset():
    """Forget the last beat and the thread, as a new process would (after fork, and in tests)."""
    global _lock, _thread_lock, _last_beat, _thread, _outage_logged_at, _leaving
    _lock, _thread_lock = threading.Lock(), threading.Lock()  # one held by another thread at fork would stay held
    _last_beat = _thread = None
    _leaving = threading.Event()
    _outage_logged_at = float("-inf")


if hasattr(os, "register_at_fork"):
    # gunicorn --preload forks workers from a master that may have beaten already; threads don't cross a fork.
    os.register_at_fork(after_in_child=reset)
