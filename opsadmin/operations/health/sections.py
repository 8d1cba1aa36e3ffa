"""The health capability's read: this process's readiness verdict, every check in the portal's status words."""

from dataclasses import dataclass

from opsadmin.health.readiness import CheckStatus, readiness
from opsadmin.runtime import drain
from opsadmin.spine import humanize
from opsadmin.spine.results import DRAINING, Section

HEADLINES = {"ok": "ready", "degraded": "ready, degraded", "unavailable": "not ready"}


@dataclass
class Checks:
    readiness: str  # what load balancers read: ok, degraded or unavailable
    failing: list[str]
    degraded: list[str]
    warnings: list[str]
    checks: list[CheckStatus]
    drain: drain.DrainState | None  # why this instance is out of the load balancer, when it is


def checks():
    """The cached readiness verdict (at most one run of the checks per period), with each check's message."""
    verdict = readiness.verdict()
    results = verdict.checks()
    drained = drain.current_drain() if verdict.drained_only else None
    data = Checks(verdict.status, verdict.failing, verdict.degraded, verdict.warnings, results, drained)
    problems = [
        f"{label}: {', '.join(names)}"
        for label, names in (
            ("failing", verdict.failing),
            ("degraded", verdict.degraded),
            ("warning", verdict.warnings),
        )
        if names
    ]
    headline = HEADLINES[verdict.status]
    if verdict.warnings and not (verdict.failing or verdict.degraded):
        headline += f", {len(verdict.warnings)} warning{'s' if len(verdict.warnings) != 1 else ''}"
    detail = "; ".join(problems) or f"all {len(results)} checks pass"
    if verdict.health == DRAINING:
        headline, detail = "draining", _why_drained(drained)
    return Section(verdict.health, headline, detail, lines=[_line(check) for check in results], data=data)


def _why_drained(drained):
    """ "drained by alice 3 min ago: load balancers get 503 until it is resumed", or that it is shutting down."""
    if drained is None:  # resumed between the checks and this read
        return "load balancers get 503 until it is resumed"
    if drained.shutting_down:
        return "shutting down: load balancers get 503 while it finishes its requests"
    who = drained.by or "someone"
    return f"drained by {who} {humanize.ago(drained.since)}: load balancers get 503 until it is resumed"


def _line(check):
    message = f" — {check.message}" if check.message else ""
    return f"{check.name}: {check.status}{message}{' (critical)' if check.critical else ''}"
