"""Long operations, run by the task worker (`manage.py ops_worker`) from their OpsRun row."""

from django.tasks import task

from opsadmin.models import OpsRun
from opsadmin.operations.declaration import get_write
from opsadmin.runs import perform


@task
def perform_run(run_id):
    """Perform a queued run; its arguments were validated at submission and are again here."""
    run = OpsRun.objects.get(pk=run_id)
    perform(run, get_write(run.operation))
    return run.status
