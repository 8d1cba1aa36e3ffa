"""POSIX serving: a worker's graceful exit, asked for by the worker itself.

SIGTERM is what gunicorn's master sends to stop a worker gracefully: the worker stops
accepting, answers the requests it holds (the one that asked included), and exits; the
master starts a fresh worker in its place. Under anything else nobody would start a fresh
process, so `supervised()` says whether this one is a gunicorn worker.
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


def exit_gracefully():
    os.kill(os.getpid(), signal.SIGTERM)
