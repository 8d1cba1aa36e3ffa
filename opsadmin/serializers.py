"""OpsRun rows as the JSON the API and `--json` print."""

from django.urls import reverse


def run_to_dict(run):
    return {
        "id": run.pk,
        "url": reverse("ops_api:run", args=[run.pk]),
        "operation": run.operation,
        "door": run.door,
        "actor": run.actor,
        "status": run.status,
        "arguments": run.arguments,
        "summary": run.summary,
        "result": run.result,
        "progress": run.progress,
        "error": run.error,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }
