"""Per-worker memory limits, checked every PORTAL_MEMORY_SAMPLE_EVERY requests so the cost stays small.

A worker's memory only grows between collections and recycles, so it is read after a
response, never on every request: above PORTAL_MEMORY_SOFT_LIMIT the worker runs a full
collection; above PORTAL_MEMORY_HARD_LIMIT it exits gracefully once its requests are
answered, and gunicorn starts a fresh one. Both are counted for the worker's figures
(opsadmin.runtime.memory). Under runserver, or off POSIX, the hard limit is only logged.
"""

import gc
import logging
import os
import threading

import psutil
from django.conf import settings

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_served = 0  # requests this process has answered
_collections = 0  # full collections the soft limit ran
_recycles = 0  # graceful exits the hard limit asked for (0 or 1: the process ends)
_warned = False  # the hard limit was logged where the process cannot recycle itself
_process = None  # psutil's handle on this process, made once per process


def limits():
    """This process's limits, as its figures show them."""
    return {
        "soft_bytes": settings.PORTAL_MEMORY_SOFT_LIMIT,
        "hard_bytes": settings.PORTAL_MEMORY_HARD_LIMIT,
        "sample_every": settings.PORTAL_MEMORY_SAMPLE_EVERY,
    }


def requests_served():
    return _served


def limit_events():
    """How often this process acted on its limits."""
    return {"collections": _collections, "recycles": _recycles}


def resident_bytes():
    """This process's RSS: one read of /proc/self/statm on Linux."""
    global _process
    if _process is None:
        _process = psutil.Process()
    return _process.memory_info().rss


def count_request(can_recycle):
    """Count one answered request; every PORTAL_MEMORY_SAMPLE_EVERY-th, act on the limits."""
    global _served
    with _lock:
        _served += 1
        due = _served % max(1, settings.PORTAL_MEMORY_SAMPLE_EVERY) == 0
    if due and (settings.PORTAL_MEMORY_SOFT_LIMIT or settings.PORTAL_MEMORY_HARD_LIMIT):
        enforce(resident_bytes(), can_recycle)


def enforce(rss, can_recycle):
    """Above the hard limit, recycle (or warn once where this process can't); above the soft one, collect."""
    global _collections, _recycles, _warned
    hard, soft = settings.PORTAL_MEMORY_HARD_LIMIT, settings.PORTAL_MEMORY_SOFT_LIMIT
    if hard and rss > hard:
        with _lock:
            first = can_recycle and _recycles == 0  # the process is ending: ask once
            _recycles += first
        if first:
            from opsadmin.runtime import recycle  # POSIX only: never imported under runserver or on Windows

            logger.warning(
                "pid %s: RSS %s bytes above the hard limit %s after %s requests: exiting gracefully",
                os.getpid(), rss, hard, _served,
            )  # fmt: skip
            recycle.exit_gracefully()
        elif not can_recycle and not _warned:
            _warned = True
            logger.warning("pid %s: RSS %s bytes above the hard limit %s; not under gunicorn: not recycled",
                           os.getpid(), rss, hard)  # fmt: skip
        return
    if soft and rss > soft:
        gc.collect()
        with _lock:
            _collections += 1


class MemoryLimitMiddleware:
    """Counts each answered request and, every PORTAL_MEMORY_SAMPLE_EVERY, acts on the memory limits."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        under_gunicorn = request.META.get("SERVER_SOFTWARE", "").startswith("gunicorn/")
        count_request(can_recycle=under_gunicorn and os.name == "posix")
        return response


def reset():
    """Start counting afresh, as a new process does (after fork, and in tests)."""
    global _lock, _served, _collections, _recycles, _warned, _process
    _lock = threading.Lock()
    _served = _collections = _recycles = 0
    _warned = False
    _process = None


if hasattr(os, "register_at_fork"):
    # A preloaded master never serves; a worker forked from it starts with its own counts and its own pid.
    os.register_at_fork(after_in_child=reset)
