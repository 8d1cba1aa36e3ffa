"""POSIX serving: gunicorn's threaded worker, with threads of its own for the load balancer's probes.

gunicorn's gthread worker hands every connection to one pool of `threads` threads. When all
of them wait on a hung dependency, a probe waits too, and a liveness probe that times out
restarts a healthy instance. This worker gives the probe listener (PORTAL_PROBE_BIND, bound
by portal/gunicorn.conf.py beside the main address) a small pool of its own, so
/health/live/ and /health/ready/ answer there while every request thread is stuck. The
portal serves nothing else on that listener (opsadmin.health.views.HealthProbeMiddleware).
"""

import os
import sys
from concurrent import futures

from gunicorn.util import parse_address
from gunicorn.workers.gthread import ThreadWorker

PROBE_THREADS = 2  # a probe takes milliseconds: two threads serve many load balancers


def probe_listener_address(listeners, probe_bind):
    """The `getsockname()` of the listener bound for `probe_bind` ("host:port" or "unix:/path"), or None."""
    if not probe_bind:
        return None
    wanted = parse_address(probe_bind)
    for listener in listeners:
        address = listener.getsockname()
        if address == wanted or (isinstance(address, tuple) and isinstance(wanted, tuple) and address[1] == wanted[1]):
            return address
    return None


class ProbeThreadWorker(ThreadWorker):
    """gthread, with connections to the probe listener served by their own threads."""

    def init_process(self):
        self.probe_address = probe_listener_address(self.sockets, os.environ.get("PORTAL_PROBE_BIND", ""))
        self.probe_pool = futures.ThreadPoolExecutor(max_workers=PROBE_THREADS, thread_name_prefix="probe")
        super().init_process()

    def enqueue_req(self, conn):
        if conn.server != self.probe_address:
            return super().enqueue_req(conn)
        done = self.probe_pool.submit(self.handle, conn)
        done.add_done_callback(lambda future: self.method_queue.defer(self.finish_request, conn, future))
        return None

    def handle_exit(self, sig, frame):
        """SIGTERM from the master (a recycle, a stop): finish the requests held, but leave the fleet now."""
        super().handle_exit(sig, frame)
        heartbeat = sys.modules.get("opsadmin.runtime.heartbeat")  # loaded with the app; no import in a handler
        if heartbeat is not None:
            heartbeat.leave()

    def run(self):
        try:
            super().run()
        finally:
            self.probe_pool.shutdown(wait=False)
