"""POSIX serving: a graceful shutdown that the load balancer sees coming.

On SIGTERM the gunicorn master does not stop at once. It raises a flag every worker reads
(readiness then answers 503 "shutting down"), keeps serving for PORTAL_SHUTDOWN_DRAIN_SECONDS
so the load balancer's checks mark the instance down, and only then stops as gunicorn
does: listeners closed, in-flight requests given PORTAL_GRACEFUL_TIMEOUT. A second SIGTERM
stops it at once; SIGINT and SIGQUIT stay gunicorn's quick shutdown. The flag is
portal/shutting_down.py's, which readiness reads on every platform.
"""

import contextlib
import logging
import signal
import threading

from django.core.cache import caches
from django.db import connections

from portal.shutting_down import announce, announced

logger = logging.getLogger(__name__)


def drain_before_stopping(drain_seconds):
    """Make this process's SIGTERM announce the shutdown, then do what it did before after `drain_seconds`.

    Called in gunicorn's master once its signal handlers are in place (`when_ready`). Its own
    handler only queues the signal, so a timer thread may queue it later just the same.
    """
    stop = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum, frame):
        if announced() or drain_seconds <= 0:  # a second SIGTERM, or no drain asked for: stop now
            stop(signum, frame)
            return
        announce()
        timer = threading.Timer(drain_seconds, stop, args=(signum, None))
        timer.daemon = True
        timer.start()
        logger.info("SIGTERM: readiness answers 503; serving for %g s more, then stopping", drain_seconds)

    signal.signal(signal.SIGTERM, on_sigterm)


def close_connections():
    """A stopping process's last words to its dependencies: PostgreSQL sessions ended, Redis pools closed,
    rather than left for the servers to notice. Never raises: the process is exiting either way."""
    from opsadmin.runtime import thread_connections  # Django's apps are loaded by the time a process stops

    try:
        connections.close_all()
        thread_connections.close_kept()  # those of its long-lived threads (readiness's database checks) too
    except Exception as error:
        logger.warning("Database connections not closed cleanly at exit: %s", error)
    for cache in caches.all(initialized_only=True):
        try:
            redis = getattr(cache, "client", None)
            if hasattr(redis, "disconnect"):  # django-redis: the pool of each server it connected to
                for client in filter(None, redis._clients):
                    redis.disconnect(client=client)
            else:
                cache.close()
        except Exception as error:
            logger.warning("Cache %r not closed cleanly at exit: %s", cache, error)


def flush_logs():
    """Everything logged so far written out: a log collector reading stdout or the file sees the exit."""
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in logging.root.manager.loggerDict)]
    for handler in {handler for each in loggers for handler in getattr(each, "handlers", ())}:
        with contextlib.suppress(Exception):  # a closed stream: nothing left to write
            handler.flush()
