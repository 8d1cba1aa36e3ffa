"""A rolling recycle: every web worker of the chosen instances, one at a time, each after the last one's
replacement beats, so an instance never has fewer workers serving than all but one.

Long (it waits for answers and replacements): it runs on the task worker, and the command line
does it itself and waits. Each worker's recycle is a run of its own, sent to that worker over
the channel, so the audit log keeps each worker's answer; this run's steps say how each went.
"""

import time

from django import forms
from django.conf import settings

from opsadmin.models import InstanceWorker, OpsRun
from opsadmin.operations.memory.writes import PERMISSION, RECYCLE, live_processes
from opsadmin.runtime import fleet, identity
from opsadmin.runtime.heartbeat import WEB
from opsadmin.spine import humanize, runs
from opsadmin.spine.arguments import ChoiceListField
from opsadmin.spine.capability import Confirmation, Write
from opsadmin.spine.results import DONE, FAILED, PLANNED, Report, Step
from opsadmin.spine.targets import TASK_WORKER

POLL_SECONDS = 0.5


def _instances():
    return sorted({_instance_of(label) for label in live_processes(kinds=(WEB,))})


def _instance_of(label):
    return identity.parse_process_label(label)[0]


class RollingForm(forms.Form):
    instances = ChoiceListField(
        choices=lambda: [(instance, instance) for instance in _instances()],
        unknown_message="No live web worker at",
        help_text="Instances (host:port) whose web workers are recycled, one at a time.",
    )


def rolling_recycle(*, instances, actor, progress):
    """Recycle each live web worker of `instances` in turn; stop at the first not answering or not replaced."""
    plan = [label for label in live_processes(kinds=(WEB,)) if _instance_of(label) in instances]
    steps = [Step(action="recycle", name=label) for label in plan]
    for number, step in enumerate(steps, 1):
        progress(number=number, count=len(steps), message=f"recycling {step.name}")
        started = time.monotonic()
        problem = _recycle_one(step.name, actor)
        step.seconds = round(time.monotonic() - started, 3)
        step.status, step.error = (FAILED, problem) if problem else (DONE, "")
        if problem:
            break
    done = [step for step in steps if step.status == DONE]
    problems = [f"{step.name}: {step.error}" for step in steps if step.status == FAILED]
    problems += [f"{step.name}: not recycled" for step in steps if step.status == PLANNED]
    summary = f"Recycled {humanize.plural(len(done), 'worker')} of {len(steps)}, one at a time"
    return Report(summary=summary, ok=not problems, problems=problems, steps=steps)


def _recycle_one(label, actor):
    """Send one worker its recycle, wait for its answer, then for a fresh worker of its instance: "" or what failed."""
    instance = _instance_of(label)
    known = set(InstanceWorker.objects.filter(instance_id=instance).values_list("pid", flat=True))
    try:
        run = runs.submit(RECYCLE, {"processes": [label]}, actor=runs.Actor(actor), door=OpsRun.Door.PORTAL)
    except runs.InvalidArguments as refused:
        return f"refused: {refused}"
    deadline = time.monotonic() + settings.PORTAL_COMMAND_TIMEOUT_SECONDS + POLL_SECONDS
    while not run.finished and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        run.refresh_from_db()
    if not run.finished:
        runs.give_up_on_overdue()
        run.refresh_from_db()
    if run.status != OpsRun.Status.SUCCEEDED:
        return f"run #{run.pk} {run.status}: {run.error or run.summary}"
    deadline = time.monotonic() + fleet.gone_seconds()
    while time.monotonic() < deadline:
        fresh = InstanceWorker.objects.filter(instance_id=instance, kind=WEB, last_seen_at__gte=run.finished_at)
        if fresh.exclude(pid__in=known).exists():
            return ""
        time.sleep(POLL_SECONDS)
    return f"no fresh worker of {instance} beat within {humanize.duration(fleet.gone_seconds())}"


def confirm_rolling(cleaned):
    """Which workers, and that each instance keeps all but one serving meanwhile."""
    chosen = [
        label
        for label in live_processes(kinds=(WEB,))
        if identity.parse_process_label(label)[0] in cleaned["instances"]
    ]
    return Confirmation(
        action=f"Recycle every web worker of {', '.join(cleaned['instances'])}, one at a time",
        items=chosen,
        size=humanize.plural(len(chosen), "worker"),
        consequence="Each answers, finishes its requests and exits; the next goes once its replacement beats.",
    )


ROLLING = Write(
    "rolling_recycle", "Rolling recycle", PERMISSION, RollingForm, rolling_recycle, TASK_WORKER, confirm=confirm_rolling
)
