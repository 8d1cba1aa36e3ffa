"""The database capability's reads as sections, and what its admin page shows."""

from opsadmin.operations.database.analysis import analyze_database, index_health
from opsadmin.spine.results import OK, WARNING, Section


def index_status():
    """Declared indexes missing or INVALID (one catalog query): the dashboard tile and system_status."""
    health = index_health()
    if health.ok:
        return Section(OK, "indexes ok", "every declared index is present and valid", data=health)
    broken = health.missing + health.invalid
    return Section(
        WARNING,
        f"{len(broken)} index problem{'s' if len(broken) != 1 else ''}",
        ", ".join(broken),
        lines=[f"missing: {name}" for name in health.missing] + [f"invalid: {name}" for name in health.invalid],
        data=health,
    )


def analysis():
    """Everything the catalog, drift and suggestions say: problems first, then advice."""
    found = analyze_database()
    count = len(found.problems)
    headline = f"{count} declared index problem{'s' if count != 1 else ''}" if count else "declared indexes ok"
    return Section(
        WARNING if found.problems else OK,
        headline,
        found.summary,
        lines=found.problems + [f"advice: {line}" for line in found.advice],
        data=found,
    )


def page_context():
    """The Database page: the analysis, and each index with what the analysis says of it."""
    found = analyze_database()
    declared = set(found.declared)
    duplicates = {row.name: row.covered_by for row in found.duplicate_indexes or ()}
    unused = {row.name for row in found.unused_indexes or ()}
    index_entries = [
        {
            "row": row,
            "declared": row.name in declared,
            "duplicate_of": duplicates.get(row.name),
            "unused": row.name in unused,
        }
        for row in found.indexes
    ]
    return {"analysis": found, "index_entries": index_entries}
