"""Where a write runs, as its declaration says.

- HERE: in the process that took the request (the admin's or API's web process, the command);
- TASK_WORKER: queued for the task worker (`manage.py ops_worker`);
- EVERY_WEB_PROCESS: in every live web process of every instance, through the command channel;
- ONE_PROCESS: in the one process its arguments name (form fields `instance` and `pid`),
  through the command channel;
- CHOSEN_PROCESSES: in each process its form's `processes` field names ("web-1:8000 pid 42",
  as identity.process_label writes them), through the command channel: what a person
  selected on a page, each process answering for itself.

A target may depend on the arguments (`ByArguments`): clearing a Redis alias is queued,
clearing local memory must reach every process that holds some.
"""

from collections.abc import Callable
from dataclasses import dataclass

from opsadmin.models import OpsRun

HERE = OpsRun.Target.HERE.value
TASK_WORKER = OpsRun.Target.TASK_WORKER.value
EVERY_WEB_PROCESS = OpsRun.Target.EVERY_WEB_PROCESS.value
ONE_PROCESS = OpsRun.Target.ONE_PROCESS.value
CHOSEN_PROCESSES = OpsRun.Target.CHOSEN_PROCESSES.value
PROCESS_TARGETS = (EVERY_WEB_PROCESS, ONE_PROCESS, CHOSEN_PROCESSES)  # reached through the command channel


@dataclass(frozen=True)
class ByArguments:
    """A target chosen from the cleaned arguments: `choose(cleaned)` returns one of `possible`."""

    choose: Callable[[dict], str]
    possible: tuple[str, ...]


def resolve(declared, cleaned):
    """The target of one run: the declared one, or the one chosen from its arguments."""
    target = declared.choose(cleaned) if isinstance(declared, ByArguments) else declared
    if target not in possible(declared):
        raise ValueError(f"{target!r} is not a target this write declares")
    return target


def possible(declared):
    """Every target a write may run on."""
    return declared.possible if isinstance(declared, ByArguments) else (declared,)
