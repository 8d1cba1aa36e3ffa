"""Typed results and their one JSON path.

A write returns a `Report` (summary, ok, problems left behind); a read returns a
`Section` (a status word, a headline, details, and its typed data). Both are turned
into JSON by `PortalJSONEncoder` alone: the API, every `--json`, and the run's stored
result. One status vocabulary serves every door: ok, warning, degraded, failing, unknown,
and draining (taken out of the load balancer on purpose).
"""

import dataclasses
import json
from dataclasses import dataclass, field

from django.core.serializers.json import DjangoJSONEncoder

OK, WARNING, DEGRADED, FAILING, UNKNOWN = "ok", "warning", "degraded", "failing", "unknown"
DRAINING = "draining"  # out of the load balancer on purpose: not an outage, not ok either
STATUSES = (OK, WARNING, DEGRADED, FAILING, UNKNOWN, DRAINING)
# A step's status: planned (a dry run, or not reached yet), done, failed, or skipped (with its note saying why).
PLANNED, DONE, FAILED, SKIPPED = "planned", "done", "failed", "skipped"

# The colour (unfold label variant) of the status vocabulary and of the spine's own states
# (runs and their targets). A capability declares the colours of its own states beside it.
COLOURS = {
    OK: "success",
    WARNING: "warning",
    DEGRADED: "warning",
    FAILING: "danger",
    UNKNOWN: "default",
    DRAINING: "info",
    "unavailable": "danger",  # readiness, as load balancers read it
    "requested": "info",
    "queued": "info",
    "pending": "info",
    "running": "info",
    "succeeded": "success",
    "failed": "danger",
    "partly_failed": "warning",
    "no_answer": "danger",
    "refused": "danger",
    PLANNED: "default",
    DONE: "success",
    SKIPPED: "warning",
}


@dataclass(kw_only=True)
class Step:
    """One thing a write does to one object, in order: a row of the run page's steps table.

    `action` says what ("create index", "ANALYZE"), `name` on what; `sql` is what ran, or
    would run on a dry run; `error` the database's message, first line only.
    """

    action: str
    name: str
    sql: list[str] = field(default_factory=list)
    status: str = PLANNED
    seconds: float | None = None
    error: str = ""
    note: str = ""


@dataclass(kw_only=True)
class Report:
    """What a write did. Each write's report adds its own fields to these.

    `ok`: no step failed (a report with ok False fails its run). `problems`: what is
    still wrong afterwards, for a person to deal with, shown on every door; the command
    line exits 1 while there are any. `steps`: what it did, one object at a time, for a
    write that works that way (the run page shows them as a table).
    """

    summary: str = ""
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)


@dataclass
class Section:
    """What a read found: how it stands (`status`), in a few words (`headline`) and a sentence (`detail`).

    `lines` are what a person reads next, problems first (the command line prints them
    under the headline); `data` is the read's typed result, for pages and JSON.
    """

    status: str
    headline: str
    detail: str = ""
    lines: list[str] = field(default_factory=list)
    data: object = None
    ok: bool = field(init=False)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"{self.status!r} is not a status word: use one of {', '.join(STATUSES)}")
        self.ok = self.status == OK


class PortalJSONEncoder(DjangoJSONEncoder):
    """Django's encoder (dates, decimals, UUIDs, lazy strings), plus dataclasses and sets."""

    def default(self, o):
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            return {item.name: getattr(o, item.name) for item in dataclasses.fields(o)}
        if isinstance(o, set | frozenset):
            return sorted(o)
        return super().default(o)


def to_json(value, **kwargs):
    """`value` as JSON text, through the one encoder."""
    return json.dumps(value, cls=PortalJSONEncoder, **kwargs)


def jsonable(value):
    """`value` as plain JSON data (dicts, lists, strings, numbers), e.g. to store in a JSONField."""
    return json.loads(to_json(value))
