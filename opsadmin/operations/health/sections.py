"""The health capability's read: this process's readiness verdict, every check in the portal's status words."""

from dataclasses import dataclass

from opsadmin.health.readiness import CheckStatus, readiness
from opsadmin.spine.results import Section

HEADLINES = {"ok": "ready", "degraded": "ready, degraded", "unavailable": "not ready"}


@dataclass
class Checks:
    readiness: str  # what load balancers read: ok, degraded or unavailable
    failing: list[str]
    degraded: list[str]
    warnings: list[str]
    checks: list[CheckStatus]


def checks():
    """The cached readiness verdict (at most one run of the checks per period), with each check's message."""
    verdict = readiness.verdict()
    results = verdict.checks()
    data = Checks(verdict.status, verdict.failing, verdict.degraded, verdict.warnings, results)
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
    return Section(verdict.health, headline, detail, lines=[_line(check) for check in results], data=data)


def _line(check):
    message = f" — {check.message}" if check.message else ""
    return f"{check.name}: {check.status}{message}{' (critical)' if check.critical else ''}"
