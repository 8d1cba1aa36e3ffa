"""What index and table maintenance returns: each step with its SQL and outcome, and the run's report.

The operations in `maintenance` build the steps, `runner` runs them, and the builders here
total them into a report (opsadmin.spine.results.Report) whose `summary` a page or a command
shows as it is.
"""

import time
from dataclasses import dataclass, field

from opsadmin.spine import humanize
from opsadmin.spine.results import DONE, FAILED, PLANNED, SKIPPED, Report, Step

CREATE, REBUILD, DROP = "create", "rebuild", "drop"  # an index step's action
ANALYZE, VACUUM = "ANALYZE", "VACUUM (ANALYZE)"  # a table step's action

__all__ = ["DONE", "FAILED", "PLANNED", "SKIPPED"]  # the step statuses, for the operations beside this module


@dataclass(kw_only=True)
class IndexStep(Step):
    """One index (`name`) and what happened to it: its statements in order (a unique constraint: its
    index, then the constraint), the outcome, the time, any cleanup after a failure."""

    table: str
    schema: str | None = None  # None: the table is found through the search path, like migrate does
    temporary: str = ""  # the name a copy is built under before it is swapped in (a changed index)
    cleanup: str = ""  # after a failure: the leftover dropped, or left (and why)


@dataclass(kw_only=True)
class IndexReport(Report):
    action: str  # create | rebuild | drop
    dry_run: bool
    steps: list[IndexStep]
    done: list[str]
    failed: list[str]
    skipped: list[str]  # not touched, each step's note says why (a name the portal can't quote)
    seconds: float


@dataclass(kw_only=True)
class TableStep(Step):
    """ANALYZE or VACUUM (ANALYZE) of one table (`name`)."""


@dataclass(kw_only=True)
class TableReport(Report):
    vacuum: bool
    dry_run: bool
    steps: list[TableStep]
    done: list[str]
    failed: list[str]
    skipped: list[str]  # not touched, each step's note says why (a name the portal can't quote)
    seconds: float
    notes: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class OptimizeReport(Report):
    """The default maintenance: create the missing declared indexes, rebuild the invalid and changed ones, ANALYZE.

    `ok`: no step failed. `problems`: declared indexes still missing or changed, indexes still invalid.
    """

    dry_run: bool
    created: list[str]
    rebuilt: list[str]
    dropped: list[str]  # leftovers of failed REINDEX CONCURRENTLY (*_ccnew, *_ccold)
    failed: list[str]  # indexes whose step failed
    failed_tables: list[str]  # tables whose ANALYZE failed
    analyzed: list[str]
    skipped: list[str]  # indexes and tables left alone, each step's note says why
    # steps: the index steps (the plan, on a dry run), then the table steps
    still_missing: list[str]  # declared indexes missing after the run (on a dry run: now)
    still_invalid: list[str]  # INVALID indexes after the run (on a dry run: now)
    still_changed: list[str]  # declared indexes present with another definition after the run (on a dry run: now)
    problems_remaining: bool  # declared indexes still missing or changed, or indexes still invalid
    timings: dict[str, float]  # seconds: indexes (create and rebuild), analyze (both when run), total


def index_report(action, dry_run, steps, started, nothing=None):
    done, failed = _named(steps, DONE), _named(steps, FAILED)
    if not steps:
        summary = (
            nothing
            or {
                CREATE: "No declared index is missing: nothing to create.",
                REBUILD: "No invalid index: nothing to rebuild.",
                DROP: "Nothing to drop.",
            }[action]
        )
    elif dry_run:
        planned = [step for step in steps if step.status != SKIPPED]
        summary = "Would run: " + ("; ".join(f"{step.action} {step.name}" for step in planned) or "nothing") + "."
    else:
        past = {CREATE: "Created", REBUILD: "Rebuilt", DROP: "Dropped"}[action]
        summary = f"{past} {len(done)} of {humanize.plural(len(steps), 'index')}" + (
            f": {', '.join(done)}." if done else "."
        )
        if failed:
            summary += f" Failed: {_failures(steps)}."
    summary += _skips(steps)
    return _steps_report(IndexReport, steps, done, failed, started, summary, action=action, dry_run=dry_run)


def table_report(vacuum, dry_run, steps, started, notes):
    done, failed = _named(steps, DONE), _named(steps, FAILED)
    verb = VACUUM if vacuum else ANALYZE
    if not steps:
        summary = "No table to analyze."
    elif dry_run:
        planned = _named(steps, PLANNED)
        summary = f"Would {verb} {humanize.plural(len(planned), 'table')}" + (
            f": {', '.join(planned)}." if planned else "."
        )
    else:
        summary = f"{verb} of {len(done)} of {humanize.plural(len(steps), 'table')} done."
        if failed:
            summary += f" Failed: {_failures(steps)}."
    summary += _skips(steps)
    return _steps_report(
        TableReport, steps, done, failed, started, summary, vacuum=vacuum, dry_run=dry_run, notes=notes
    )


def _steps_report(report_class, steps, done, failed, started, summary, **fields):
    """A report of steps run one after the other: ok when none failed."""
    return report_class(
        steps=steps,
        done=done,
        failed=failed,
        skipped=_named(steps, SKIPPED),
        ok=not failed,
        seconds=since(started),
        summary=summary,
        **fields,
    )


def optimize_report(dry_run, index_steps, table_steps, still_missing, still_invalid, still_changed, timings):
    def names(action, status=DONE):
        return [
            step.name for step in index_steps if step.action == action and (status is None or step.status == status)
        ]

    failed, failed_tables = _named(index_steps, FAILED), _named(table_steps, FAILED)
    analyzed, planned_tables = _named(table_steps, DONE), _named(table_steps, PLANNED)
    problems = bool(still_missing or still_invalid or still_changed)
    if dry_run:
        plan = [
            f"create {', '.join(names(CREATE, None))}" if names(CREATE, None) else "",
            f"rebuild {', '.join(names(REBUILD, None))}" if names(REBUILD, None) else "",
            f"drop the leftovers {', '.join(names(DROP, None))}" if names(DROP, None) else "",
            f"ANALYZE {humanize.plural(len(planned_tables), 'table')}" if planned_tables else "",
        ]
        summary = "Dry run: would " + ("; ".join(filter(None, plan)) or "do nothing") + "."
    else:
        created, rebuilt = len(names(CREATE)), len(names(REBUILD))
        summary = f"Created {created:,}, rebuilt {humanize.plural(rebuilt, 'index')}"
        if names(DROP):
            summary += f", dropped {humanize.plural(len(names(DROP)), 'leftover')}"
        summary += f"; analyzed {humanize.plural(len(analyzed), 'table')}."
        if failed or failed_tables:
            summary += f" Failed: {'; '.join(filter(None, [_failures(index_steps), _failures(table_steps)]))}."
    summary += _skips([*index_steps, *table_steps])
    if still_missing:
        summary += f" {'Missing' if dry_run else 'Still missing'}: {', '.join(still_missing)}."
    if still_invalid:
        summary += f" {'Invalid' if dry_run else 'Still invalid'}: {', '.join(still_invalid)}."
    if still_changed:
        summary += f" {'Changed' if dry_run else 'Still changed'}: {', '.join(still_changed)}."
    if not problems and not failed and not failed_tables:
        summary += " No declared index is missing, invalid or changed."
    return OptimizeReport(
        dry_run=dry_run,
        created=names(CREATE),
        rebuilt=names(REBUILD),
        dropped=names(DROP),
        failed=failed,
        failed_tables=failed_tables,
        analyzed=analyzed,
        skipped=_named([*index_steps, *table_steps], SKIPPED),
        steps=[*index_steps, *table_steps],
        still_missing=still_missing,
        still_invalid=still_invalid,
        still_changed=still_changed,
        problems_remaining=problems,
        problems=[f"Declared index {name} is still missing." for name in still_missing]
        + [f"Index {name} is still INVALID." for name in still_invalid]
        + [f"Declared index {name} is still present with another definition." for name in still_changed],
        ok=not (failed or failed_tables),
        timings=timings,
        summary=summary,
    )


def since(started):
    """The seconds since `started` (a time.monotonic()), as the reports give them."""
    return round(time.monotonic() - started, 3)


def _named(steps, status):
    return [step.name for step in steps if step.status == status]


def _failures(steps):
    return "; ".join(f"{step.name} ({step.error})" for step in steps if step.status == FAILED)


def _skips(steps):
    """ " Skipped: name (why)." for the steps left alone, or ""."""
    skipped = "; ".join(f"{step.name} ({step.note})" for step in steps if step.status == SKIPPED)
    return f" Skipped: {skipped}." if skipped else ""
