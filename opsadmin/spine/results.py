"""Typed results and their one JSON path.

A write returns a `Report` (summary, ok, problems left behind); a read returns a
`Section` (a status word, a headline, details, and its typed data). Both are turned
into JSON by `PortalJSONEncoder` alone: the API, every `--json`, and the run's stored
result. One status vocabulary serves every door: ok, warning, degraded, failing, unknown.
"""

import dataclasses
import json
from dataclasses import dataclass, field

from django.core.serializers.json import DjangoJSONEncoder

OK, WARNING, DEGRADED, FAILING, UNKNOWN = "ok", "warning", "degraded", "failing", "unknown"
STATUSES = (OK, WARNING, DEGRADED, FAILING, UNKNOWN)
# How bad each is: a summary of several takes the worst. Unknown ranks with failing: nobody can vouch for it.
SEVERITY = {OK: 0, WARNING: 1, DEGRADED: 2, UNKNOWN: 3, FAILING: 4}

# The colour (unfold label variant) of every state word the pages show: the status
# vocabulary, and the states of things (instances, runs, run targets).
COLOURS = {
    OK: "success",
    WARNING: "warning",
    DEGRADED: "warning",
    FAILING: "danger",
    UNKNOWN: "default",
    "unavailable": "danger",  # readiness, as load balancers read it
    "serving": "success",
    "draining": "info",
    "gone": "default",
    "alive": "success",
    "requested": "info",
    "queued": "info",
    "pending": "info",
    "running": "info",
    "succeeded": "success",
    "failed": "danger",
    "partly_failed": "warning",
    "no_answer": "danger",
}


def worst(statuses):
    """The worst of `statuses` (OK for none)."""
    return max(statuses, key=SEVERITY.__getitem__, default=OK)


@dataclass(kw_only=True)
class Report:
    """What a write did. Each write's report adds its own fields to these three.

    `ok`: no step failed (a report with ok False fails its run). `problems`: what is
    still wrong afterwards, for a person to deal with, shown on every door; the command
    line exits 1 while there are any.
    """

    summary: str = ""
    ok: bool = True
    problems: list[str] = field(default_factory=list)


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
