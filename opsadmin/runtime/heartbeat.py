"""How processes beat: web processes on their requests, the task worker from a side thread.

The admin's instance list and readiness's drain check both need to know which
instance a process belongs to; a web process learns it from the port its requests
arrive on, so it beats from a middleware placed early, before any view asks.
"""

import socket
import threading

from django.db import connection

from opsadmin.runtime.instances import TASK, TASK_WORKER_PORT, WEB, heartbeat_interval, record_heartbeat


class HeartbeatMiddleware:
    """Records this process's heartbeat as "host:SERVER_PORT"; no database access between beats."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.host = socket.gethostname()

    def __call__(self, request):
        record_heartbeat(self.host, request.META.get("SERVER_PORT") or "unknown", WEB)
        return self.get_response(request)


def beat_as_task_worker(host=None):
    """One task-worker beat from a side thread; closes that thread's connection, which nothing else would."""
    try:
        return record_heartbeat(host or socket.gethostname(), TASK_WORKER_PORT, TASK, force=True)
    finally:
        connection.close()


class TaskWorkerHeartbeat(threading.Thread):
    """Beats every PORTAL_HEARTBEAT_SECONDS while the worker's main thread waits for or runs tasks.

    A daemon thread, so it never keeps a stopping worker alive; `stop()` ends it sooner.
    """

    def __init__(self, host=None):
        super().__init__(name="ops-worker-heartbeat", daemon=True)
        self.host = host or socket.gethostname()
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.wait(heartbeat_interval()):
            beat_as_task_worker(self.host)

    def stop(self, timeout=1.0):
        self.stopped.set()
        self.join(timeout)
