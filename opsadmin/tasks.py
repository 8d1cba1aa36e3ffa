"""The task name runs were queued under before the spine took over a run's whole life.

A run queued by the release before spine v2 waits in the task worker's queue under
`opsadmin.tasks.perform_run`; the worker performs it here as opsadmin.spine.runs would.
Remove once no queue holds such a task (one release later).
"""

from django.tasks import task

from opsadmin.spine.runs import perform_queued


@task
def perform_run(run_id):
    return perform_queued.call(run_id)
