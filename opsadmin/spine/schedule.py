"""The task worker's scheduled work: what capabilities declare as `Scheduled`, run by one thread of its own.

Not on the heartbeat thread (opsadmin.runtime.heartbeat): that thread must keep beating and answering the
command channel every second, and scheduled work may wait on a mail server or a webhook for seconds. Each job
runs when due, one after the other; a job that raises is logged (a line a minute at most per job) and runs
again when next due, so one bad evaluation never ends the worker or the others.
"""

import logging
import threading
import time

from django.db import close_old_connections, connection

from opsadmin.runtime import breakers, thread_connections

logger = logging.getLogger(__name__)

ERROR_LOG_SECONDS = 60
IDLE_SECONDS = 1.0  # the longest it sleeps between looks at what is due


class Scheduler(threading.Thread):
    """Runs each job of `jobs` every `job.seconds()`, the first time as soon as it starts."""

    def __init__(self, jobs, clock=time.monotonic):
        super().__init__(name="ops-scheduled", daemon=True)
        self.jobs = list(jobs)
        self.clock = clock
        self.stopped = threading.Event()
        self.next_run = {job.name: clock() for job in self.jobs}
        self._logged_at = {}

    def run(self):
        thread_connections.serve(thread_connections.SCHEDULED)  # its connection is kept from one job to the next
        try:
            while not self.stopped.is_set():
                self.run_due()
                self.stopped.wait(self.pause())
        finally:
            connection.close()

    def run_due(self):
        """Run every job that is due now; when each runs next is counted from when it started."""
        for job in self.jobs:
            started = self.clock()
            if started < self.next_run[job.name] or self.stopped.is_set():
                continue
            self.next_run[job.name] = started + float(job.seconds())
            close_old_connections()
            try:
                job.function()
            except Exception as error:
                self._log(job, error)

    def pause(self):
        soonest = min(self.next_run.values(), default=self.clock() + IDLE_SECONDS)
        return min(max(soonest - self.clock(), 0.0), IDLE_SECONDS)

    def _log(self, job, error):
        now = time.monotonic()
        if now - self._logged_at.get(job.name, float("-inf")) < ERROR_LOG_SECONDS:
            return
        self._logged_at[job.name] = now
        if isinstance(error, breakers.Unavailable):
            logger.warning("Scheduled %s skipped: %s (logged once a minute)", job.name, error)
        else:
            logger.exception("Scheduled %s failed (logged once a minute)", job.name)

    def stop(self, timeout=10.0):
        self.stopped.set()
        self.join(timeout)


def start(jobs):
    """Start the scheduler thread for `jobs`; None when there are none."""
    if not jobs:
        return None
    scheduler = Scheduler(jobs)
    scheduler.start()
    return scheduler
