"""The audit log's reads: recent runs at a glance, the log page by page, one run."""

from dataclasses import dataclass
from datetime import timedelta

from django import forms
from django.utils import timezone

from opsadmin.models import OpsRun
from opsadmin.spine import humanize
from opsadmin.spine.capability import NotFound
from opsadmin.spine.results import DEGRADED, FAILING, OK, Section
from opsadmin.spine.runs import describe, stalled_runs, title_of

RECENT_RUNS = 10
PAGE_SIZE = 50
FAILED = (OpsRun.Status.FAILED, OpsRun.Status.PARTLY_FAILED)
RUN_STATUS = {OpsRun.Status.FAILED: FAILING, OpsRun.Status.PARTLY_FAILED: DEGRADED, OpsRun.Status.REFUSED: FAILING}


@dataclass
class RecentRuns:
    failed_last_24h: int
    refused_last_24h: int
    running: int
    stalled: list[dict]  # runs not moving: queued for a task worker that isn't there, or their process gone
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
    """The latest runs, and a problem only while one exists now: runs queued for a task worker nobody runs.

    Past failures are shown (counted, and each run in its colour), never alarmed on: they
    don't make the section, the dashboard or `system_status` fail once they are over.
    """
    since = timezone.now() - timedelta(days=1)
    last_day = OpsRun.objects.filter(requested_at__gte=since)
    failed = last_day.filter(status__in=FAILED).count()
    refused = last_day.filter(status=OpsRun.Status.REFUSED).count()
    running = OpsRun.objects.filter(status=OpsRun.Status.RUNNING).count()
    stalled = [{"id": run.pk, "title": title_of(run), "because": because} for run, because in stalled_runs()]
    latest = list(OpsRun.objects.order_by("-requested_at", "-id")[:RECENT_RUNS])
    data = RecentRuns(
        failed,
        refused,
        running,
        stalled,
        [
            {
                "id": run.pk,
                "title": title_of(run),
                "operation": run.operation,
                "status": run.status,
                "actor": run.actor,
                "summary": run.summary,
                "requested_at": run.requested_at,
            }
            for run in latest
        ],
    )
    past = ", ".join(filter(None, [f"{failed:,} failed" if failed else "", f"{refused:,} refused" if refused else ""]))
    detail = f"{running:,} running; in the last 24 h: {past or 'none failed'}"
    lines = [f"{title_of(run)} {run.status}: {run.summary or run.error}" for run in latest]
    if stalled:
        reasons = "; ".join(dict.fromkeys(run["because"] for run in stalled))
        stuck = [f"{run['title']}: {run['because']}" for run in stalled]
        return Section(
            FAILING, f"{humanize.plural(len(stalled), 'run')} stalled", reasons, lines=stuck + lines, data=data
        )
    return Section(OK, "nothing waiting" if not running else f"{running:,} running", detail, lines=lines, data=data)


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
    return Section(OK, humanize.plural(len(found), "run"), data=RunPage(found))


def one(id):
    """One run, its targets' answers included."""
    run = OpsRun.objects.prefetch_related("targets").filter(pk=id).first()
    if run is None:
        raise NotFound(f"no run {id}")
    described = describe(run)
    status = FAILING if described["stalled"] else RUN_STATUS.get(run.status, OK)
    lines = [*([described["stalled"]] if described["stalled"] else []), *run.problems]
    return Section(status, f"{title_of(run)}: {run.status}", run.summary or run.error, lines=lines, data=described)
