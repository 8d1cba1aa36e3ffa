"""The breakers capability's read, and what its page shows: every breaker, problems first.

An open breaker is failing: calls to its dependency fail at once now (the database's
requests answer 503, the cache's reads miss). That is the dashboard tile's colour for any
breaker; readiness is what tells them apart (breaker:database is critical, the others are
not: health_check.py). A half-open one is a warning: its next call is a trial that decides.
"""

from dataclasses import dataclass
from datetime import datetime

from opsadmin.runtime import breakers, identity
from opsadmin.runtime.breakers import CLOSED, HALF_OPEN, OPEN, BreakerStatus
from opsadmin.spine import humanize
from opsadmin.spine.results import FAILING, OK, WARNING, Section, to_json

PROBLEMS_FIRST = {OPEN: 0, HALF_OPEN: 1, CLOSED: 2}


@dataclass
class Breakers:
    breakers: list[BreakerStatus]  # open ones first, then half-open, then closed, each in PORTAL_BREAKERS order
    open: list[str]
    half_open: list[str]


@dataclass
class Change:
    """One change of state in a breaker's history, as the page's timeline shows it."""

    at: datetime
    before: str
    after: str
    cause: str
    process: str


@dataclass
class Panel:
    """One breaker on the page: its status, its history as a timeline, and the raw JSON behind a toggle."""

    status: BreakerStatus
    timeline: list[Change]
    raw: str


def breaker_list():
    """Every breaker: failing while one is open, a warning while one is half-open, else ok."""
    statuses = sorted((breaker.status() for breaker in breakers.every()), key=lambda s: PROBLEMS_FIRST[s.state])
    opened = [status for status in statuses if status.state == OPEN]
    trials = [status for status in statuses if status.state == HALF_OPEN]
    data = Breakers(statuses, [status.name for status in opened], [status.name for status in trials])
    lines = [line(status) for status in statuses]
    where = f"state kept in {statuses[0].where}" if statuses else ""
    if opened:
        detail = "; ".join(f"{status.name}: calls fail at once, {trial(status)}" for status in opened)
        return Section(FAILING, f"{_names(opened)} open", detail, lines=[*lines, where], data=data)
    if trials:
        detail = "the next call is a trial"
        return Section(WARNING, f"{_names(trials)} half-open", detail, lines=[*lines, where], data=data)
    closed = f"all {len(statuses)} closed" if len(statuses) != 1 else "closed"
    return Section(OK, closed, where, lines=lines, data=data)


def line(status):
    """ "database: open — 5 of 5 failures, opened 3 min ago, trial in 7 s; last error 3 min ago: ..." """
    parts = [f"{status.fail_counter:,} of {status.fail_max:,} failures"]
    if status.state == OPEN:
        parts += [f"opened {humanize.ago(status.opened_at)}", trial(status)]
    elif status.state == HALF_OPEN:
        parts.append("the next call is a trial")
    else:
        parts.append(f"reset timeout {humanize.duration(status.reset_timeout)}")
    text = f"{status.name}: {status.state} — {', '.join(parts)}"
    if status.last_error:
        text += f"; last error {humanize.ago(status.last_error_at)}: {status.last_error}"
    return text


def trial(status):
    """ "trial in 7 s", or "trial on the next call" once the reset timeout is over."""
    when = humanize.until(status.trial_at)
    return "trial on the next call" if when == "now" else f"trial {when}"


def page_context():
    """The section (what needs attention), where the state lives, then one panel per breaker in the section's order.

    `shown_by`: the process this page shows the state of, when each process keeps its own.
    """
    section = breaker_list()
    statuses = section.data.breakers
    return {
        "heading": "Every breaker" if section.ok else "Needs attention",
        "section": section,
        "panels": [Panel(status, _timeline(status), to_json(status, indent=2)) for status in statuses],
        "where": statuses[0].where if statuses else "",
        "shown_by": "" if not statuses or statuses[0].shared else identity.process_label(),
    }


def _timeline(status):
    return [
        Change(datetime.fromisoformat(event["at"]), event["from"], event["to"], event["cause"], event["process"])
        for event in status.history
    ]


def _names(statuses):
    return ", ".join(status.name for status in statuses)
