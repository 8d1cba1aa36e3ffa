"""Running a declared write: validate, record an OpsRun, do the work or enqueue it, record the end.

Every door calls `submit`; so bad input gets the same errors everywhere and every
write leaves exactly one audit row, whatever happens after it starts.
"""

import dataclasses
import logging
import traceback
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from opsadmin.models import OpsRun

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    """Who asked: a user (via session or token) or the command line."""

    label: str
    user: object = None

    @classmethod
    def cli(cls):
        return cls("cli")

    @classmethod
    def for_user(cls, user, token=None):
        label = f"{user.get_username()} (token {token.prefix})" if token else user.get_username()
        return cls(label[: OpsRun._meta.get_field("actor").max_length], user)


class InvalidArguments(Exception):
    """The operation's form rejected the arguments; `errors` maps field to messages."""

    def __init__(self, errors):
        super().__init__("; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items()))
        self.errors = errors


class OperationFailed(Exception):
    """Raised by an operation for an expected failure whose message is safe to show."""


def validate(operation, data):
    """The form's cleaned data for `data`, or InvalidArguments with every field error."""
    if nested := _nested_values(operation, data):
        raise InvalidArguments(nested)
    form = operation.form_class(data)
    if not form.is_valid():
        raise InvalidArguments({field: [str(m) for m in messages] for field, messages in form.errors.items()})
    return form.cleaned_data


def submit(operation, data, *, actor, door, background=None, on_progress=None):
    """Validate, record and run (or enqueue) `operation`; returns its OpsRun.

    `background` defaults to what the operation declares; the command line
    passes False to do the work itself and wait, and `on_progress` to show progress
    as it is recorded.
    """
    cleaned = validate(operation, data)
    background = operation.in_background(cleaned) if background is None else background
    run = OpsRun.objects.create(
        operation=operation.name,
        door=door,
        actor=actor.label,
        user=actor.user,
        arguments=_arguments(operation, data),
        status=OpsRun.Status.QUEUED if background else OpsRun.Status.RUNNING,
    )
    if background:
        from opsadmin.tasks import perform_run

        transaction.on_commit(lambda: perform_run.enqueue(run.pk))
        return run
    return perform(run, operation, on_progress, cleaned)


def perform(run, operation, on_progress=None, cleaned=None):
    """Do the work of a recorded run and record how it ended. Never raises for the operation's errors."""
    if run.status != OpsRun.Status.RUNNING:
        run.status, run.started_at = OpsRun.Status.RUNNING, timezone.now()
        run.save(update_fields=["status", "started_at"])
    try:
        if cleaned is None:  # a queued run: validated again against the catalog as it is now
            cleaned = validate(operation, run.arguments)
        report = operation.function(**cleaned, actor=run.actor, progress=_progress_recorder(run, on_progress))
        failed = getattr(report, "ok", True) is False  # some of its steps failed: so did the run
        summary, result = report.summary, dataclasses.asdict(report)
    except OperationFailed as error:
        _finish(run, OpsRun.Status.FAILED, error=str(error), summary=str(error))
    except InvalidArguments as invalid:  # valid when queued, no longer when the worker got to it
        message = f"arguments no longer valid: {invalid}"
        _finish(run, OpsRun.Status.FAILED, error=message, summary=message)
    except Exception as error:
        logger.exception("ops run %s (%s) crashed", run.pk, run.operation)
        _finish(run, OpsRun.Status.FAILED, error="".join(traceback.format_exception_only(error)).strip())
    else:
        status = OpsRun.Status.FAILED if failed else OpsRun.Status.SUCCEEDED
        _finish(run, status, summary=summary, result=result, error=summary if failed else "")
    return run


def _finish(run, status, *, summary="", result=None, error=""):
    run.status, run.summary, run.result, run.error = status, summary[:500], result, error
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "summary", "result", "error", "finished_at"])


def _progress_recorder(run, on_progress=None):
    """A callable the operation uses to publish progress (a small dict) on its run row."""

    def record(**progress):
        run.progress = progress
        OpsRun.objects.filter(pk=run.pk).update(progress=progress)
        if on_progress is not None:
            on_progress(**progress)

    return record


def takes_a_list(field):
    """Whether a form field takes several values: a multiple-choice widget, or a field that says so."""
    return getattr(field.widget, "allow_multiple_selected", False) or getattr(field, "takes_a_list", False)


def _nested_values(operation, data):
    """{field: [message]} for JSON objects or lists where the form expects one value (or a list of values)."""
    errors = {}
    for name, field in operation.form_class.base_fields.items():
        value = data.get(name) if hasattr(data, "get") else None
        if getattr(data, "getlist", None) is not None or value is None:
            continue  # a form POST: values are strings
        multiple = takes_a_list(field)
        values = value if multiple and isinstance(value, list) else [value]
        if isinstance(value, dict) or any(isinstance(item, dict | list) for item in values):
            errors[name] = ["Enter a list of values." if multiple else "Enter a single value, not a list or an object."]
    return errors


def _arguments(operation, data):
    """The operation's own fields from `data`, as JSON (a form POST also carries its CSRF token)."""
    getlist = getattr(data, "getlist", None)
    arguments = {}
    for name, field in operation.form_class.base_fields.items():
        if name in data:
            multiple = getlist is not None and takes_a_list(field)
            arguments[name] = getlist(name) if multiple else data[name]
    return arguments
