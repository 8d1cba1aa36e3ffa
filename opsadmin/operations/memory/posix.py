"""POSIX: recycling this worker gracefully, by the signal gunicorn's own graceful stop sends (SIGTERM).

A gunicorn worker that gets SIGTERM stops accepting, finishes the requests it is serving within
graceful_timeout and exits; the arbiter then starts a fresh one. Under anything else nobody
would start a fresh process, so `supervised()` says whether this one is a gunicorn worker.
"""

import os
import signal

import psutil


def supervised():
    """True when this process's parent is a gunicorn arbiter (its command line names gunicorn)."""
    try:
        parent = psutil.Process().parent()
        return parent is not None and any("gunicorn" in part for part in parent.cmdline())
    except psutil.Error:
        return False


def stop_gracefully():
    """Ask this worker to finish its requests and exit."""
    os.kill(os.getpid(), signal.SIGTERM)
