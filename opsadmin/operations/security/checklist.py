"""The checklist: every declared item graded from the check framework's answer, then the live audit, scored.

One `run_checks(include_deployment_checks=True, tags=[Tags.security])` answers for Django's
checks and the portal's (checks.py). An item fails when one of its checks reports an error, or
a warning on an item whose severity is failure; it warns on a warning otherwise; it passes
when none of its checks said anything, unless its checks do not apply now (HSTS's subdomains
while HSTS is off): then it is a note saying why. A warning silenced on purpose (SILENCED_SYSTEM_CHECKS)
becomes a note saying so; a silenced failure still fails. A security check no item declares
(a newer Django's) is listed on its own, so nothing it says is dropped.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.core import checks
from django.utils import timezone

from opsadmin.operations.security import audit, items
from opsadmin.operations.security.grades import FAILURE, INFO, PASS, WARNING, Graded, problems_first, score

DJANGO_CHECK, PORTAL_CHECK, NOTE = "django check", "portal check", "note"
SILENCED = " (silenced in SILENCED_SYSTEM_CHECKS)"


@dataclass
class Checklist:
    score: int  # 0-100, grades.SCORE_RULE
    counts: dict[str, int]  # failure, warning, pass, info
    items: list[Graded]  # failures, then warnings, passes, notes
    graded_at: datetime = field(default_factory=timezone.now)

    def at_least(self, level):
        """The items graded `level` (warning or failure) or worse."""
        levels = (FAILURE,) if level == FAILURE else (FAILURE, WARNING)
        return [item for item in self.items if item.status in levels]


def checklist():
    messages = defaultdict(list)
    for message in checks.run_checks(include_deployment_checks=True, tags=[checks.Tags.security]):
        messages[message.id].append(message)
    graded = [grade(item, messages) for item in items.ITEMS]
    declared = {check_id for item in items.ITEMS for check_id in item.check_ids}
    graded += [undeclared(check_id, said) for check_id, said in messages.items() if check_id not in declared]
    graded += audit.audit()
    graded += [note(item) for item in items.NOTES]
    counts = {status: sum(item.status == status for item in graded) for status in (FAILURE, WARNING, PASS, INFO)}
    return Checklist(score(graded), counts, problems_first(graded))


def grade(item, messages):
    said = [message for check_id in item.check_ids for message in messages.get(check_id, [])]
    current = item.current()
    if not said and item.applies and (why_not := item.applies()):
        status, current = INFO, f"{current}: {why_not}"
    elif not said:
        status = PASS
    elif any(message.level >= checks.ERROR for message in said) or item.severity == FAILURE:
        status = FAILURE
    elif all(message.is_silenced() for message in said):
        status, current = INFO, current + SILENCED
    else:
        status = WARNING
    source = PORTAL_CHECK if item.reading else DJANGO_CHECK
    return Graded(
        item.id,
        item.title,
        status,
        current,
        item.expected,
        item.why,
        item.fix,
        item.severity,
        source,
        [f"{message.id}: {message.msg}" for message in said],
    )


def undeclared(check_id, said):
    failing = any(message.level >= checks.ERROR for message in said)
    return Graded(
        check_id,
        said[0].msg.split(".")[0],
        FAILURE if failing else WARNING,
        "reported by the check",
        "no message",
        "A security check this checklist does not list yet: read its message.",
        said[0].hint or "See Django's check framework reference for this id.",
        FAILURE if failing else WARNING,
        DJANGO_CHECK,
        [f"{message.id}: {message.msg}" for message in said],
    )


def note(item):
    return Graded(item.id, item.title, INFO, item.current(), item.expected, item.why, item.fix, INFO, NOTE)
