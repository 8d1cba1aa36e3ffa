"""POSIX serving: gunicorn's configuration for the portal: `gunicorn -c portal/gunicorn.conf.py portal.wsgi`.

Threaded workers (a thread waiting on the database or Redis leaves the others serving),
with the load balancer's probes on a listener of their own (portal/probe_worker.py), so a
hung dependency never makes an instance look dead. Settings come from the environment:

- PORTAL_BIND: the address requests arrive on (default 127.0.0.1:8000);
- PORTAL_PROBE_BIND: the probes' address (default: the same host, the next port; "" for none,
  and probes then share the request threads);
- WEB_CONCURRENCY: worker processes (default: one per CPU, at least 2); PORTAL_THREADS:
  threads per worker (default 4);
- PORTAL_PRELOAD: load the app once in the master and fork the workers from it (default on);
  its objects are then frozen out of the garbage collector (`gc.freeze()`), so the pages
  holding them stay shared between workers instead of being copied by each collection.
  Off, each worker loads its own app (and a HUP reloads the code);
- PORTAL_WARM_UP_PATHS: with preloading, the pages the master renders once before forking
  (portal/warm_up.py), comma-separated ("" for none; default: its EVERYDAY_PAGES), so what
  a first rendering leaves behind is shared too;
- PORTAL_MAX_REQUESTS: a worker is replaced after this many requests, plus up to 10 %
  jitter so workers don't all restart at once (default 10000; 0: never);
- PORTAL_SHUTDOWN_DRAIN_SECONDS: on SIGTERM, readiness answers 503 "shutting down" at once and
  the server keeps serving this long, so the load balancer's checks take it out before it
  stops accepting (default 10; 0: stop at once). PORTAL_GRACEFUL_TIMEOUT: then the requests
  in flight get this long to finish (default 30). A supervisor's stop timeout must exceed
  both together (portal/shutdown.py);
- PORTAL_KEEPALIVE: seconds an idle client connection stays open (default 5); above the idle
  timeout of a load balancer that reuses connections to its targets (an ALB's is 60 s);
- PORTAL_METRICS_DIR: where the workers write their metrics, so that a scrape of /metrics answered
  by any worker adds up all of them (prometheus_client's multiprocess mode, given it as
  PROMETHEUS_MULTIPROC_DIR for this server's processes only: a command run beside it keeps its own).
  Made if missing. Default: a directory of this server's own, made at start and removed at exit.
  Either way it is emptied before the first worker is forked (what an earlier server left, and the
  master's warm-up requests, are not this server's traffic), and a worker that exits has its counts folded
  into one archive file per kind (portal/metrics_files.py).
"""

import gc
import os
import shutil
import tempfile
from pathlib import Path

import psutil

from portal.environment import env_bool, env_choice, env_list, env_number
from portal.logs import gunicorn_logging
from portal.probe_worker import PROBE_THREADS
from portal.shutdown import close_connections, drain_before_stopping, flush_logs

_main = os.environ.setdefault("PORTAL_BIND", "127.0.0.1:8000")
_host, _, _port = _main.rpartition(":")
_probe = os.environ.get("PORTAL_PROBE_BIND", f"{_host}:{int(_port) + 1}" if _port.isdigit() else "")
os.environ["PORTAL_PROBE_BIND"] = _probe  # the workers and Django read it: probes only on that listener

# Before the app (and prometheus_client, which reads it once, at import) is loaded, here or in the workers.
_own_metrics_dir = not os.environ.get("PORTAL_METRICS_DIR")
_metrics_dir = Path(os.environ.get("PORTAL_METRICS_DIR") or tempfile.mkdtemp(prefix="portal-metrics-"))
_metrics_dir.mkdir(parents=True, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_metrics_dir)

bind = [_main, _probe] if _probe else [_main]
worker_class = "portal.probe_worker.ProbeThreadWorker"
# gunicorn's own records in the portal's format (JSON unless DEBUG or PORTAL_LOG_FORMAT says otherwise), no access log.
_log_format = env_choice("PORTAL_LOG_FORMAT", "CONSOLE" if env_bool("DEBUG") else "JSON", ("JSON", "CONSOLE"))
logconfig_dict = gunicorn_logging(_log_format.lower())
workers = int(os.environ.get("WEB_CONCURRENCY", max(2, psutil.cpu_count() or 1)))
threads = int(os.environ.get("PORTAL_THREADS", 4))
worker_connections = 1000 + PROBE_THREADS
timeout = 30  # a worker whose main loop is stuck this long is restarted (threads waiting on I/O don't count)
graceful_timeout = env_number("PORTAL_GRACEFUL_TIMEOUT", 30, int)
shutdown_drain_seconds = env_number("PORTAL_SHUTDOWN_DRAIN_SECONDS", 10.0)
keepalive = env_number("PORTAL_KEEPALIVE", 5, int)  # above the load balancer's idle timeout (ALB: 60 s)
control_socket_disable = True  # no control socket in the home directory
preload_app = env_bool("PORTAL_PRELOAD", default=True)
max_requests = env_number("PORTAL_MAX_REQUESTS", 10000, int)
max_requests_jitter = max_requests // 10


def when_ready(server):
    """In the master, once, before the first fork: serve the everyday pages, so what they leave is shared;
    then start the metrics afresh, so the workers' files are all there is. From now on a SIGTERM drains first."""
    drain_before_stopping(shutdown_drain_seconds)
    if server.cfg.preload_app:
        from portal.warm_up import EVERYDAY_PAGES, warm_up  # the preloaded app has set Django up

        if paths := env_list("PORTAL_WARM_UP_PATHS", default=EVERYDAY_PAGES):
            warm_up(paths)
    for values in _metrics_dir.glob("*.db"):  # prometheus_client's files only: the directory may hold others
        values.unlink()


def pre_fork(server, worker):
    """In the master, before each worker is forked: nothing open crosses the fork (the warm-up's readiness page
    leaves its check threads' kept connections too: a worker would inherit their sockets, and end them as it
    exits), and what the master holds is frozen, so no worker's collector writes to (and copies) the pages it
    shares."""
    if server.cfg.preload_app:
        from django.db import connections

        from opsadmin.runtime import thread_connections

        connections.close_all()
        thread_connections.close_kept()
        gc.freeze()


def post_worker_init(worker):
    """In each worker, its app loaded: it is named as its configuration says and starts beating."""
    from opsadmin.runtime.heartbeat import start_web_process

    start_web_process()


def worker_exit(server, worker):
    """In a worker, as it exits (recycled, or the server stopping): its row leaves the pages at once, its
    connections are closed and its logs written out."""
    from opsadmin.runtime.heartbeat import forget_this_process

    forget_this_process()
    close_connections()
    flush_logs()


def child_exit(server, worker):
    """In the master, once a worker has exited, however it ended (killed too): its live gauges (its memory)
    leave /metrics; its counts are folded into the directory's archives, so the instance's totals never go back
    and the directory does not grow with every recycle (portal/metrics_files.py)."""
    from portal.metrics_files import worker_exited

    worker_exited(worker.pid, _metrics_dir)


def on_exit(server):
    """In the master, its workers gone: the instance is marked stopped (the pages say so rather than "gone"
    a minute later), unless a new master took over (USR2); the metrics directory goes, if it was this server's own."""
    if not server.reexec_pid:
        try:
            _mark_stopped()
        except Exception as error:  # settings that never loaded: the server did not start
            server.log.warning("Instance not marked stopped: %s", error)
    if _own_metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
    flush_logs()


def _mark_stopped():
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    django.setup()  # done already when the app was preloaded
    from opsadmin.runtime.heartbeat import mark_instance_stopped
    from opsadmin.runtime.identity import configured_instance

    mark_instance_stopped(":".join(configured_instance()))
    close_connections()
