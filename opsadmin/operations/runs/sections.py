"""The audit log's reads: recent runs at a glance, the log page by page, one run."""

from dataclasses import dataclass
from datetime import timedelta

from django import forms
from django.utils import timezone

from opsadmin.models import OpsRun
from opsadmin.spine.capability import NotFound
from opsadmin.spine.results import DEGRADED, FAILING, OK, WARNING, Section
from opsadmin.spine.runs import describe

RECENT_RUNS = 10
PAGE_SIZE = 50
FAILED = (OpsRun.Status.FAILED, OpsRun.Status.PARTLY_FAILED)
RUN_STATUS = {OpsRun.Status.FAILED: FAILING, OpsRun.Status.PARTLY_FAILED: DEGRADED}


@dataclass
class RecentRuns:
    failed_last_24h: int
    running: int
    recent: list[dict]


@dataclass
class RunPage:
    runs: list[dict]


class RunsForm(forms.Form):
    operation = forms.CharField(required=False, max_length=64, help_text="Only runs of this write.")
    status = forms.ChoiceField(required=False, choices=[("", "any"), *OpsRun.Status.choices])
    before = forms.IntegerField(required=False, min_value=1, help_text="Only runs older than this run id (paging).")


class RunForm(forms.Form):
    id = forms.IntegerField(min_value=1, help_text="The run's id.")


def recent():
    """Failures of the last 24 hours, what is running, and the latest runs."""
    since = timezone.now() - timedelta(days=1)
    failed = OpsRun.objects.filter(status__in=FAILED, requested_at__gte=since).count()
    running = OpsRun.objects.filter(status=OpsRun.Status.RUNNING).count()
    latest = list(OpsRun.objects.order_by("-requested_at", "-id")[:RECENT_RUNS])
    data = RecentRuns(
        failed,
        running,
        [
            {"id": run.pk, "operation": run.operation, "status": run.status, "actor": run.actor, "summary": run.summary}
            for run in latest
        ],
    )
    headline = f"{failed} failed in 24 h" if failed else "none failed in 24 h"
    lines = [f"#{run.pk} {run.operation} {run.status}: {run.summary or run.error}" for run in latest]
    return Section(WARNING if failed else OK, headline, f"{running} running", lines=lines, data=data)


def page(operation="", status="", before=None):
    """The audit log, newest first, PAGE_SIZE runs at a time: pass the last id as `before` for the next page."""
    runs = OpsRun.objects.prefetch_related("targets").order_by("-pk")
    if operation:
        runs = runs.filter(operation=operation)
    if status:
        runs = runs.filter(status=status)
    if before:
        runs = runs.filter(pk__lt=before)
    found = [describe(run) for run in runs[:PAGE_SIZE]]
    return Section(OK, f"{len(found)} runs", data=RunPage(found))


def one(id):
    """One run, its targets' answers included."""
    run = OpsRun.objects.prefetch_related("targets").filter(pk=id).first()
    if run is None:
        raise NotFound(f"no run {id}")
    status = RUN_STATUS.get(run.status, OK)
    return Section(
        status,
        f"#{run.pk} {run.operation}: {run.status}",
        run.summary or run.error,
        lines=run.problems,
        data=describe(run),
    )
