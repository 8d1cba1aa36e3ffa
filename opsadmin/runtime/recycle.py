"""POSIX serving: a gunicorn worker's graceful exit, asked for by the worker itself.

SIGTERM is what gunicorn's master sends to stop a worker gracefully: the worker stops
accepting, answers the requests it holds (the one that asked included), and exits; the
master starts a fresh worker in its place. Under anything else nobody would start a fresh
process, so only a gunicorn worker (`identity.gunicorn_worker()`) imports this.
"""

import os
import signal


def exit_gracefully():
    os.kill(os.getpid(), signal.SIGTERM)
