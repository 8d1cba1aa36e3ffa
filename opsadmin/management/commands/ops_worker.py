"""The task worker: django-tasks-db's `db_worker`, plus a heartbeat so readiness and the admin see it alive.

Takes every `db_worker` option (`--batch`, `--queue-name`, `--interval`, ...).
"""

import os
import socket

from django.utils.autoreload import DJANGO_AUTORELOAD_ENV
from django_tasks_db.management.commands import db_worker

from opsadmin.runtime.heartbeat import TASK_WORKER_PORT, TaskWorkerHeartbeat
from opsadmin.runtime.instances import TASK, record_heartbeat


class Command(db_worker.Command):
    help = "Run the task worker (django-tasks-db's db_worker) and record its heartbeat."

    def handle(self, *args, **options):
        # With --reload this process only watches files; its child (DJANGO_AUTORELOAD_ENV set) works and beats.
        if options["reload"] and not options["batch"] and os.environ.get(DJANGO_AUTORELOAD_ENV) != "true":
            return super().handle(*args, **options)
        host = socket.gethostname()
        # Beat before the first task, so even a short --batch run is seen; then every interval from a thread.
        record_heartbeat(host, TASK_WORKER_PORT, TASK, force=True)
        heartbeat = TaskWorkerHeartbeat(host)
        heartbeat.start()
        try:
            return super().handle(*args, **options)
        finally:
            heartbeat.stop()
