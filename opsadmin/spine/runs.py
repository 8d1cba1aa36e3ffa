"""A declared write's run: the one state machine of its audit row (OpsRun), from asked for to finished.

    requested ─► queued ─► running ─► succeeded | failed | partly_failed | refused
        └──────────────────► (here: claimed at once)

`submit` validates the arguments and records the run (requested), then hands it to where
its write runs (opsadmin.spine.targets):
- here: claimed (running) and performed in this process;
- the task worker: queued once the row is committed; the worker claims it and performs it;
- processes: one RunTarget per process, read by each process's own thread from the command
  channel (queued); the first to start makes the run running, and when every target has
  answered, or stopped being waited for at its deadline, the run is settled: succeeded,
  failed, or partly failed naming who failed or never answered.

Every door calls `submit`, so bad input gets the same errors everywhere and every write
leaves exactly one audit row, whatever happens after it starts. Nothing here raises for
an operation's own failure: it is recorded on the run. A destructive write (one a person
confirms) asked for wrongly leaves a row too, status refused, saying why: a wrong
confirmation, a protected object. The arguments are recorded as the form cleaned them,
so every door records the same values with the same types.
"""

import inspect
import logging
import traceback
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS
from django.db import transaction
from django.db.models import Q
from django.tasks import task
from django.urls import reverse
from django.utils import timezone

from opsadmin.models import OpsRun, RunTarget
from opsadmin.runtime import fleet, identity
from opsadmin.runtime.breakers import Unavailable
from opsadmin.spine import arguments, registry, targets
from opsadmin.spine.results import Report, jsonable
from portal import request_context

logger = logging.getLogger(__name__)

Status = OpsRun.Status
OPEN_TARGET_STATUSES = (RunTarget.Status.PENDING, RunTarget.Status.RUNNING)
MAX_STALLED_LISTED = 100  # unfinished runs looked at for the dashboard: more would be a problem of its own


@dataclass(frozen=True)
class Actor:
    """Who asked: a user (by session or token) or the command line."""

    label: str
    user: object = None

    @classmethod
    def cli(cls):
        """The command line: its OS user and host, as no portal login stands behind it."""
        return cls(identity.command_line_user()[: OpsRun._meta.get_field("actor").max_length])

    @classmethod
    def of(cls, caller):
        """The actor of an authenticated caller (portal.accounts.callers.Caller)."""
        return cls(caller.label[: OpsRun._meta.get_field("actor").max_length], caller.user)


class InvalidArguments(Exception):
    """The form rejected the arguments; `errors` maps each field to its messages.

    `run`: the refused run recorded for it, when the write is destructive (else None).
    """

    run = None

    def __init__(self, errors):
        super().__init__(
            "; ".join(
                " ".join(messages) if field == NON_FIELD_ERRORS else f"{field}: {' '.join(messages)}"
                for field, messages in errors.items()
            )
        )
        self.errors = errors


class OperationFailed(Exception):
    """Raised by an operation for an expected failure whose message is safe to show."""


class Refused(OperationFailed):
    """Raised by an operation asked for something unsafe or unconfirmed: nothing was done; the run is refused."""


@dataclass(kw_only=True)
class ProcessesReport(Report):
    """A run sent to processes: how each answered (their own reports are on their RunTarget rows)."""

    processes: list[dict] = field(default_factory=list)  # {process, status, summary, error}


def validate(form_class, data):
    """The form's cleaned data for `data`, or InvalidArguments with every field error."""
    return _clean(form_class, data)


def validate_before_confirming(form_class, data):
    """The cleaned data of everything but the typed confirmations (a person types those after seeing what
    they confirm), or InvalidArguments with the other fields' errors."""
    return _clean(form_class, data, skipped=set(arguments.confirmation_fields(form_class)))


def _clean(form_class, data, skipped=()):
    if errors := arguments.unusable_values(form_class, data):
        raise InvalidArguments(errors)
    form = form_class(data)
    if errors := {field: [str(m) for m in messages] for field, messages in form.errors.items() if field not in skipped}:
        raise InvalidArguments(errors)
    return form.cleaned_data


def submit(write, data, *, actor, door, where=None, on_progress=None):
    """Validate, record and hand over a run of `write`; returns its OpsRun.

    `where(declared target)` lets a door run it elsewhere: the command line performs
    task-worker writes itself and waits, unless asked to enqueue them. `on_progress` sees
    the progress a run performed here records.
    """
    try:
        cleaned = validate(write.form_class, data)
    except InvalidArguments as invalid:
        if write.destructive:
            invalid.run = _refused(write, data, actor, door, invalid)
        raise
    target = write.target_for(cleaned)
    target = where(target) if where else target
    processes = _processes_for(target, cleaned)
    run = OpsRun.objects.create(
        operation=write.name,
        title=write.title,
        door=door,
        actor=actor.label,
        user=actor.user,
        arguments=jsonable(cleaned),
        target=target,
        request_id=request_context.current_request_id() or "",
    )
    if target == targets.HERE:
        if claim(run):
            perform(run, write, cleaned, on_progress)
    elif target == targets.TASK_WORKER:
        transaction.on_commit(lambda: _enqueue(run))
    else:
        _send_to_processes(run, processes)
    return run


class Interrupted(BaseException):
    """Raised in a run's thread when the task worker must stop before the run ends: the run goes back to the
    queue. A BaseException, so the `except Exception` that records a crash as the run's failure lets it by."""


def claim(run, ran_on=None):
    """Move a requested or queued run to running, once: False when someone else already did."""
    now, ran_on = timezone.now(), identity.process_label() if ran_on is None else ran_on
    claimed = OpsRun.objects.filter(pk=run.pk, status__in=[Status.REQUESTED, Status.QUEUED]).update(
        status=Status.RUNNING, started_at=now, ran_on=ran_on
    )
    if claimed:
        run.status, run.started_at, run.ran_on = Status.RUNNING, now, ran_on
    return bool(claimed)


def unclaim(run):
    """A claimed run interrupted before it ended: queued again, for the next task worker to claim."""
    OpsRun.objects.filter(pk=run.pk, status=Status.RUNNING).update(
        status=Status.QUEUED, started_at=None, ran_on="", progress=None
    )
    run.status, run.started_at, run.ran_on, run.progress = Status.QUEUED, None, "", None


def perform(run, write, cleaned=None, on_progress=None):
    """Do the work of a claimed run here and record how it ended. `cleaned` None: validate again now."""
    outcome = execute(write, run, cleaned, _progress_recorder(run, on_progress))
    finish(run, **outcome)
    return run


@task
def perform_queued(run_id):
    """The task worker's side: claim a queued run once (a duplicate enqueue finds it claimed) and perform it.

    Its records carry the id of the request that queued it (portal.request_context), as that request's did."""
    run = OpsRun.objects.get(pk=run_id)
    try:
        write = registry.get_write(run.operation)
    except KeyError:  # queued by a release that had this write; this one has not
        write = None
    with request_context.bound(run.request_id or None):
        if claim(run):
            logger.info("ops run %s (%s) started", run.pk, run.operation, extra={"run": run.pk})
            if write is None:
                finish(run, **_failed(f"this release has no write {run.operation!r}"))
            else:
                try:
                    perform(run, write)
                except Interrupted:
                    unclaim(run)
                    logger.warning("ops run %s (%s) back in the queue", run.pk, run.operation, extra={"run": run.pk})
                    raise
            logger.info("ops run %s (%s) %s", run.pk, run.operation, run.status, extra={"run": run.pk})
    return run.status


def execute(write, run, cleaned, progress):
    """Run the write's function: {status, summary, result, error} for the run or target that did it."""
    try:
        if cleaned is None:  # queued or sent: checked again against the world as it is now
            cleaned = validate(write.form_class, run.arguments)
        report = _call(write.function, cleaned, actor=run.actor, progress=progress)
        failed = report.ok is False  # some of its steps failed: so did the run
        outcome = {
            "status": Status.FAILED if failed else Status.SUCCEEDED,
            "summary": report.summary,
            "result": jsonable(report),
            "error": report.summary if failed else "",
        }
    except Refused as refusal:
        return {**_failed(str(refusal)), "status": Status.REFUSED}
    except OperationFailed as error:
        return _failed(str(error))
    except InvalidArguments as invalid:  # valid when asked for, no longer when it got to run
        return _failed(f"arguments no longer valid: {invalid}")
    except Unavailable as out:  # a dependency is out (its breaker logged it): a failure, not a crash
        return _failed(str(out))
    except Exception as error:  # a bug, in the write or in its report: recorded, never left running
        logger.exception("ops run %s (%s) crashed", run.pk, run.operation)
        return _failed("".join(traceback.format_exception_only(error)).strip(), summary="")
    return outcome


def finish(run, *, status, summary="", result=None, error=""):
    """Record how the run ended; its progress goes (its steps, in the result, say what was done)."""
    run.status, run.summary, run.result, run.error = status, summary[:500], result, error
    run.finished_at, run.progress = timezone.now(), None
    run.save(update_fields=["status", "summary", "result", "error", "finished_at", "progress"])


def record(operation, title, *, actor, door, arguments, summary, status=Status.SUCCEEDED):
    """An audited action the doors take outside a declared write (an API token issued or revoked): a finished run."""
    now = timezone.now()
    return OpsRun.objects.create(
        operation=operation,
        title=title,
        door=door,
        actor=actor.label,
        user=actor.user,
        arguments=jsonable(arguments),
        target=targets.HERE,
        status=status,
        summary=summary[:500],
        ran_on=identity.process_label(),
        requested_at=now,
        started_at=now,
        finished_at=now,
    )


def take(target):
    """Move a pending target to running, once, and only before its deadline: False otherwise."""
    now = timezone.now()
    taken = RunTarget.objects.filter(pk=target.pk, status=RunTarget.Status.PENDING, expires_at__gte=now).update(
        status=RunTarget.Status.RUNNING, started_at=now
    )
    return bool(taken)


def answer(target, outcome):
    """Record one target process's answer, then settle its run if it was the last one."""
    RunTarget.objects.filter(pk=target.pk, status__in=OPEN_TARGET_STATUSES).update(
        status=outcome["status"],
        summary=outcome["summary"][:500],
        result=outcome["result"],
        error=outcome["error"],
        finished_at=timezone.now(),
    )
    settle(target.run_id)


def give_up_on_overdue(now=None):
    """Mark targets past their deadline as never answered, and settle their runs; returns how many.

    Also settles a process run every target answered but still running: its last answer's own settling failed
    (the database out, or locked, at that moment), and no answer is left to settle it again."""
    now = now or timezone.now()
    overdue = list(RunTarget.objects.filter(status__in=OPEN_TARGET_STATUSES, expires_at__lt=now))
    for target in overdue:
        RunTarget.objects.filter(pk=target.pk, status__in=OPEN_TARGET_STATUSES).update(
            status=RunTarget.Status.NO_ANSWER, finished_at=now
        )
    answered = (
        OpsRun.objects.filter(status=Status.RUNNING, targets__isnull=False)
        .exclude(targets__status__in=OPEN_TARGET_STATUSES)
        .values_list("pk", flat=True)
        .distinct()
    )
    for run_id in {target.run_id for target in overdue} | set(answered):
        settle(run_id)
    return len(overdue)


def settle(run_id):
    """Finish a process run once none of its targets is still open: succeeded, failed or partly failed."""
    with transaction.atomic():
        run = OpsRun.objects.select_for_update().get(pk=run_id)
        answers = list(run.targets.order_by("instance", "pid"))
        if run.finished or any(target.status in OPEN_TARGET_STATUSES for target in answers):
            return run
        report = _processes_report(run, answers)
        status = (
            Status.SUCCEEDED
            if report.ok
            else Status.PARTLY_FAILED
            if any(target.status == RunTarget.Status.SUCCEEDED for target in answers)
            else Status.FAILED
        )
        if run.started_at is None:
            run.started_at = timezone.now()
            run.save(update_fields=["started_at"])
        finish(run, status=status, summary=report.summary, result=jsonable(report), error="; ".join(report.problems))
    return run


def describe(run):
    """The run as every door shows it (the API, `--json`): one representation."""
    return {
        "id": run.pk,
        "url": reverse("ops_api:run", args=[run.pk]),
        "operation": run.operation,
        "title": title_of(run),
        "door": run.door,
        "actor": run.actor,
        "target": run.target,
        "status": run.status,
        "arguments": run.arguments,
        "summary": run.summary,
        "problems": run.problems,
        "error": run.error,
        "result": run.result,
        "progress": run.progress,
        "stalled": stalled(run),
        "ran_on": run.ran_on,
        "request_id": run.request_id,  # of the request that asked for it: its log lines carry it too
        "requested_at": run.requested_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration_seconds": round(run.duration, 3) if run.duration is not None else None,
        "processes": [_answer_of(target) for target in run.targets.all()]  # in (instance, pid) order
        if run.target in targets.PROCESS_TARGETS
        else [],
    }


def title_of(run):
    """ "Optimize database indexes #9": the title it ran under (before titles were kept: its write's, or its name)."""
    title = run.title
    if not title:
        try:
            title = registry.get_write(run.operation).title
        except KeyError:
            title = run.operation
    return f"{title} #{run.pk}"


def stalled(run, no_task_worker=None):
    """Why the run is not moving, or "": queued for a task worker nobody runs, or running in a process gone
    silent (a worker killed mid-run leaves its run running). `no_task_worker`: fleet.no_task_worker(), if known."""
    if run.status in (Status.REQUESTED, Status.QUEUED) and run.target == targets.TASK_WORKER:
        return fleet.no_task_worker() if no_task_worker is None else no_task_worker
    if run.status == Status.RUNNING:
        return fleet.silent_process(run.ran_on)
    return ""


def stalled_runs():
    """The runs not moving now and why (see `stalled`): [(run, reason)], oldest first."""
    unfinished = OpsRun.objects.filter(
        Q(target=targets.TASK_WORKER, status__in=[Status.REQUESTED, Status.QUEUED]) | Q(status=Status.RUNNING)
    ).order_by("requested_at", "id")[:MAX_STALLED_LISTED]
    no_task_worker = fleet.no_task_worker()
    found = [(run, stalled(run, no_task_worker)) for run in unfinished]
    return [(run, reason) for run, reason in found if reason]


def completed_fraction(progress):
    """How far a running run is, 0 to 1, from the `number` and `count` of its steps and the step's `percent`;
    None when its progress does not count steps."""
    try:
        number, count = int(progress["number"]), int(progress["count"])
        percent = float(progress.get("percent") or 0)
    except (KeyError, TypeError, ValueError):
        return None
    if count <= 0:
        return None
    return min(1.0, max(0.0, (number - 1 + percent / 100) / count))


# --- helpers ----------------------------------------------------------------------------------


def _call(function, cleaned, **context):
    """The write's function with its cleaned arguments, plus `actor` and `progress` where it takes them."""
    parameters = inspect.signature(function).parameters.values()
    takes_any = any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters)
    names = {parameter.name for parameter in parameters}
    return function(**cleaned, **{key: value for key, value in context.items() if takes_any or key in names})


def _processes_for(target, cleaned):
    """The (instance, pid) pairs a process-targeted run goes to."""
    if target == targets.EVERY_WEB_PROCESS:
        return fleet.live_web_processes()
    if target == targets.ONE_PROCESS:
        return [(str(cleaned["instance"]), int(cleaned["pid"]))]
    if target == targets.CHOSEN_PROCESSES:
        return list(dict.fromkeys(identity.parse_process_label(label) for label in cleaned["processes"]))
    return []


def _send_to_processes(run, processes):
    """One open RunTarget per process, each waited for until the same deadline: the run is queued."""
    if not processes:  # recorded all the same: the audit log says it was asked for, and why nothing happened
        finish(run, **_failed("no web process is serving: there was nowhere to send it"))
        return
    expires_at = timezone.now() + timedelta(seconds=settings.PORTAL_COMMAND_TIMEOUT_SECONDS)
    with transaction.atomic():
        RunTarget.objects.bulk_create(
            [RunTarget(run=run, instance=instance, pid=pid, expires_at=expires_at) for instance, pid in processes]
        )
        OpsRun.objects.filter(pk=run.pk, status=Status.REQUESTED).update(status=Status.QUEUED)
    run.status = Status.QUEUED


def _enqueue(run):
    """Hand a committed run to the task worker; a queue that refuses it fails the run, visibly."""
    try:
        perform_queued.enqueue(run.pk)
    except Exception as error:
        logger.exception("ops run %s (%s) could not be queued", run.pk, run.operation)
        finish(run, **_failed(f"could not be queued for the task worker: {error}"))
        return
    if OpsRun.objects.filter(pk=run.pk, status=Status.REQUESTED).update(status=Status.QUEUED):
        run.status = Status.QUEUED


def _refused(write, data, actor, door, invalid):
    """The audit row of a refused attempt: what was asked, by whom, and why not (nothing ran)."""
    now = timezone.now()
    return OpsRun.objects.create(
        operation=write.name,
        title=write.title,
        door=door,
        actor=actor.label,
        user=actor.user,
        arguments=arguments.storable(arguments.recorded_arguments(write.form_class, data)),
        status=Status.REFUSED,
        summary=f"Refused: {invalid}"[:500],
        error=str(invalid),
        requested_at=now,
        finished_at=now,
    )


def _failed(message, summary=None):
    return {
        "status": Status.FAILED,
        "summary": message if summary is None else summary,
        "result": None,
        "error": message,
    }


def _answer_of(target):
    return {"process": target.process, "status": target.status, "summary": target.summary, "error": target.error}


def _processes_report(run, answers):
    outcomes = [_answer_of(target) for target in answers]
    succeeded = [target for target in answers if target.status == RunTarget.Status.SUCCEEDED]
    timeout = settings.PORTAL_COMMAND_TIMEOUT_SECONDS
    problems = [
        f"no answer from {target.process} within {timeout:g} s"
        if target.status == RunTarget.Status.NO_ANSWER
        else f"failed in {target.process}: {target.error or target.summary}"
        for target in answers
        if target.status != RunTarget.Status.SUCCEEDED
    ]
    summary = f"{len(succeeded)} of {len(answers)} process{'es' if len(answers) != 1 else ''} done"
    if succeeded and len({target.summary for target in succeeded}) == 1:
        summary += f": {succeeded[0].summary}"
    if problems:
        summary += "; " + "; ".join(problems)
    return ProcessesReport(summary=summary, ok=not problems, problems=problems, processes=outcomes)


def _progress_recorder(run, on_progress=None):
    """A callable the operation uses to publish progress (a small dict) on its run row."""

    def record(**progress):
        run.progress = progress
        OpsRun.objects.filter(pk=run.pk).update(progress=progress)
        if on_progress is not None:
            on_progress(**progress)

    return record
