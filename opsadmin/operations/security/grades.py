"""A checklist item's grade, and how the items sum up to a score.

Four grades: failure, warning, pass, and info (a note, never graded). The score is the
weight of the passing items over the weight of every graded item, as a percentage; an item
that can fail weighs 3, one that can only warn weighs 1, so one failure costs as much as
three warnings.
"""

from dataclasses import dataclass, field

FAILURE, WARNING, PASS, INFO = "failure", "warning", "pass", "info"
PROBLEMS_FIRST = {FAILURE: 0, WARNING: 1, PASS: 2, INFO: 3}
WEIGHT = {FAILURE: 3, WARNING: 1}  # by the worst grade an item can get (its severity)
SCORE_RULE = (
    "passing items' weight over all graded items' weight; an item that can fail weighs 3, one that can "
    "only warn weighs 1; info items are not graded"
)


@dataclass
class Graded:
    """One item as graded now: what it is, how it stands, what it is and should be, why, and the fix."""

    id: str
    title: str
    status: str
    current: str
    expected: str
    why: str
    fix: str
    severity: str = FAILURE  # the grade it gets when it does not pass
    source: str = ""  # "django check", "portal check", "live audit" or "note"
    said: list[str] = field(default_factory=list)  # what the system checks said about it


def worst(statuses):
    """The worst of some grades (pass when there are none)."""
    return min(statuses, key=PROBLEMS_FIRST.__getitem__, default=PASS)


def score(items):
    """0-100 by SCORE_RULE; 100 when nothing is graded."""
    graded = [item for item in items if item.status != INFO]
    total = sum(WEIGHT[item.severity] for item in graded)
    passed = sum(WEIGHT[item.severity] for item in graded if item.status == PASS)
    return round(100 * passed / total) if total else 100


def problems_first(items):
    return sorted(items, key=lambda item: PROBLEMS_FIRST[item.status])
