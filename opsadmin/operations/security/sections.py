"""The checklist as a read (its status: failing on a failure, a warning on a warning) and what its page shows."""

from opsadmin.operations.security.checklist import checklist
from opsadmin.operations.security.grades import FAILURE, INFO, PASS, SCORE_RULE, WARNING
from opsadmin.spine import humanize
from opsadmin.spine.results import FAILING, OK, Section, to_json
from opsadmin.spine.results import WARNING as WARNING_STATUS

GROUPS = ((FAILURE, "Failures"), (WARNING, "Warnings"), (PASS, "Passing"), (INFO, "Notes"))


def security_checklist():
    """Every item graded now, problems first, with the score."""
    graded = checklist()
    counts = graded.counts
    problems = graded.at_least(WARNING)
    lines = [f"{item.status}: {item.id} {item.title} — {item.current}" for item in problems]
    headline = f"score {graded.score} of 100"
    if counts[FAILURE]:
        return Section(FAILING, headline, _counted(counts), lines=lines, data=graded)
    if counts[WARNING]:
        return Section(WARNING_STATUS, headline, _counted(counts), lines=lines, data=graded)
    return Section(OK, headline, f"all {counts[PASS]:,} graded items pass", lines=lines, data=graded)


def page_context():
    """The section, the score and how it is made, the items in groups (failures first), the raw JSON."""
    section = security_checklist()
    graded = section.data
    return {
        "heading": "Every item passes" if section.ok else "Needs attention",
        "section": section,
        "checklist": graded,
        "groups": [
            (status, title, [item for item in graded.items if item.status == status])
            for status, title in GROUPS
            if graded.counts[status]
        ],
        "score_rule": SCORE_RULE,
        "raw": to_json(graded, indent=2),
    }


def _counted(counts):
    """ "2 failures, 3 warnings, 30 passing" (notes left out: they are not graded)."""
    parts = [humanize.plural(counts[FAILURE], "failure"), humanize.plural(counts[WARNING], "warning")]
    return ", ".join([*parts, f"{counts[PASS]:,} passing"])
