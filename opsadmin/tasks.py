"""Long operations, run by the task worker (`manage.py ops_worker`) from their OpsRun row."""

from django.tasks import task
from django.utils import timezone

from opsadmin.models import OpsRun
from opsadmin.operations.declaration import get_write
from opsadmin.runs import perform


@task
def perform_run(run_id):
    """Perform a queued run once: a duplicate enqueue or a retry finds it claimed and does nothing."""
    claimed = OpsRun.objects.filter(pk=run_id, status=OpsRun.Status.QUEUED).update(
        status=OpsRun.Status.RUNNING, started_at=timezone.now()
    )
    run = OpsRun.objects.get(pk=run_id)
    if claimed:
        perform(run, get_write(run.operation))
    return run.status
