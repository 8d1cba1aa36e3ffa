"""The task worker: django-tasks-db's `db_worker`, plus its own process thread (heartbeat, command channel).

Takes every `db_worker` option (`--batch`, `--queue-name`, `--interval`, ...).
"""

import os

from django.utils.autoreload import DJANGO_AUTORELOAD_ENV
from django_tasks_db.management.commands import db_worker

from opsadmin.runtime import identity
from opsadmin.runtime.heartbeat import TASK, TASK_WORKER_PORT, ProcessThread, record_heartbeat


class Command(db_worker.Command):
    help = "Run the task worker (django-tasks-db's db_worker) with its heartbeat and command channel."

    def handle(self, *args, **options):
        # With --reload this process only watches files; its child (DJANGO_AUTORELOAD_ENV set) works and beats.
        if options["reload"] and not options["batch"] and os.environ.get(DJANGO_AUTORELOAD_ENV) != "true":
            return super().handle(*args, **options)
        # Beat before the first task, so even a short --batch run is seen; then every interval from its thread.
        record_heartbeat(identity.HOST, TASK_WORKER_PORT, TASK, force=True)
        thread = ProcessThread(TASK_WORKER_PORT, TASK)
        thread.start()
        try:
            return super().handle(*args, **options)
        finally:
            thread.stop()
