"""The task worker: django-tasks-db's `db_worker`, plus its own process thread (heartbeat, command channel)
and the capabilities' scheduled work (the alerts' evaluation); it waits out a database outage instead of
exiting, and a SIGTERM lets it finish the task in hand or put it back in the queue.

Takes every `db_worker` option (`--batch`, `--queue-name`, `--interval`, ...).
"""

import os
import signal
import time

from django.conf import settings
from django.core.management.base import CommandError
from django.db import InterfaceError, OperationalError, connections
from django.utils.autoreload import DJANGO_AUTORELOAD_ENV, run_with_reloader
from django_tasks_db.management.commands import db_worker
from django_tasks_db.models import DBTaskResult, TaskResultStatus

from opsadmin.runtime import breakers, identity, thread_connections
from opsadmin.runtime.alarm import Alarm
from opsadmin.runtime.heartbeat import (
    TASK,
    TASK_WORKER_PORT,
    forget_this_process,
    record_heartbeat,
    start_process_thread,
)
from opsadmin.spine import registry, runs, schedule
from opsadmin.spine.arguments import first_line

CONNECTION_ERRORS = (OperationalError, InterfaceError)
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 30.0


class ReconnectingWorker(db_worker.Worker):
    """db_worker's Worker, whose loop ends the process on a lost connection: this one waits for the database.

    The connection error ends db_worker's `run` (taking a task, or recording one's result); this closes the
    broken connection and opens a new one after 1 s, then 2, 4, ... up to 30 s, a log line per attempt, and
    runs the loop again once one opens. While the database's breaker refuses, the next attempt is its trial:
    no sooner (it would be refused) and no later. A task cut off by the outage keeps the state the database
    last had.
    """

    def run(self):
        while True:
            try:
                return super().run()
            except CONNECTION_ERRORS as error:
                if not self.running:  # a signal asked it to stop during the task the outage cut off
                    raise
                self.wait_for_database(error)

    def wait_for_database(self, error):
        connection = connections[DBTaskResult.objects.db]
        delay = pause_after(error, FIRST_RETRY_SECONDS / 2)
        while True:
            connection.close()  # a broken connection is never reused; a new one is tried after the pause
            db_worker.logger.warning("Database unavailable (%s); next attempt in %g s", first_line(error), delay)
            time.sleep(delay)  # a signal here exits at once, as in db_worker's own pause between polls
            try:
                connection.ensure_connection()
            except CONNECTION_ERRORS as failure:
                error, delay = failure, pause_after(failure, delay)
            else:
                db_worker.logger.info("Database available again; taking tasks")
                return


class StoppingWorker(ReconnectingWorker):
    """On SIGTERM (or SIGINT) between tasks it exits, as db_worker does; during a task it takes no other and
    gives the task PORTAL_TASK_STOP_SECONDS to finish. Past that, or on a second signal, the task is
    interrupted (runs.Interrupted, raised in it) and put back in the queue, its run queued again, rather than
    recorded as failed: the next worker does it. A statement running in PostgreSQL ends first (its timeout
    bounds it); a supervisor's stop timeout must exceed PORTAL_TASK_STOP_SECONDS. On every platform: the stop time
    is an Alarm (SIGALRM on POSIX, a timer thread elsewhere).
    """

    interrupted = False

    def __init__(self, **options):
        super().__init__(**options)
        self.alarm = Alarm(self.interrupt)

    def shutdown(self, signum, frame):
        if not self.running_task:
            return super().shutdown(signum, frame)  # between tasks: exit now
        if not self.running:
            return self.interrupt(signum, frame)  # a second signal: don't wait any longer
        self.running = False
        seconds = float(settings.PORTAL_TASK_STOP_SECONDS)
        db_worker.logger.warning(
            "Received %s: finishing the current task within %g s, else it goes back in the queue",
            signal.strsignal(signum),
            seconds,
        )
        self.alarm.start(seconds)
        return None

    def interrupt(self, signum, frame):
        self.alarm.cancel()
        self.interrupted = True
        raise runs.Interrupted(f"the task worker is stopping ({signal.strsignal(signum)})")

    def run_task(self, db_task_result):
        self.interrupted = False
        try:
            super().run_task(db_task_result)  # records an interruption as the task's failure...
        except runs.Interrupted:  # ...or it came while the outcome was being recorded
            pass
        finally:
            self.alarm.cancel()
        if self.interrupted:  # ...undone: a run already finished is not claimed again by the next worker
            requeue(db_task_result)

    def reset_signals(self):
        super().reset_signals()
        self.alarm.cancel()


def requeue(db_task_result):
    """An interrupted task back in the queue, as it was before it was claimed (its worker ids stay: a record)."""
    DBTaskResult.objects.filter(pk=db_task_result.pk).update(
        status=TaskResultStatus.READY,
        started_at=None,
        finished_at=None,
        return_value=None,
        exception_class_path="",
        traceback="",
    )
    db_worker.logger.warning("Task id=%s put back in the queue: the task worker is stopping", db_task_result.id)


def pause_after(error, last_pause):
    """Until the breaker's trial when it refused the connection (open, or half-open with another thread's trial
    running), else twice the last pause; at most 30 s."""
    if isinstance(error, breakers.Unavailable) and error.state in (breakers.OPEN, breakers.HALF_OPEN):
        return min(max(error.retry_after, FIRST_RETRY_SECONDS), MAX_RETRY_SECONDS)
    return min(last_pause * 2, MAX_RETRY_SECONDS)


class Command(db_worker.Command):
    help = "Run the task worker (django-tasks-db's db_worker) with its heartbeat and command channel."

    def handle(self, *args, **options):
        reload = options["reload"] and not options["batch"]
        # With --reload this process only watches files; its child (DJANGO_AUTORELOAD_ENV set) works and beats.
        if reload and os.environ.get(DJANGO_AUTORELOAD_ENV) != "true":
            return super().handle(*args, **options)
        worker = self.worker(**options)
        thread_connections.serve(thread_connections.TASK)  # its loop keeps its connection from one poll to the next
        # Beat before the first task, so even a short --batch run is seen; then every interval from its thread.
        record_heartbeat(identity.instance_host(), TASK_WORKER_PORT, TASK, force=True)
        start_process_thread(TASK_WORKER_PORT, TASK)
        # The scheduled work (the alerts' evaluation) is the long-running worker's: a --batch run does the queue only.
        scheduler = None if options["batch"] else schedule.start(registry.scheduled())
        try:
            worker.configure_signals()
            if reload:
                run_with_reloader(worker.run)
            else:
                worker.run()
        finally:
            if scheduler is not None:
                scheduler.stop()
            forget_this_process()

    def worker(self, *, verbosity, queue_name, exclude_queues, **options):
        """What db_worker's `handle` builds, as a StoppingWorker (that method names its Worker class)."""
        self.configure_logging(verbosity)
        queue_names = queue_name.split(",")
        excluded_queue_names = exclude_queues.split(",") if exclude_queues else []
        if excluded_queue_names and "*" not in queue_names:
            raise CommandError("--exclude-queues can only be used with --queue-name=*")
        return StoppingWorker(
            queue_names=queue_names,
            excluded_queue_names=excluded_queue_names,
            interval=options["interval"],
            batch=options["batch"],
            backend_name=options["backend_name"],
            startup_delay=options["startup_delay"],
            max_tasks=options["max_tasks"],
            worker_id=options["worker_id"],
        )
