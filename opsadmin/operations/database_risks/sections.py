"""The slow dangers as reads (each a Section), the status line they add up to, and what the page shows."""

from django.db import connection

from opsadmin.operations.database_risks import dangers
from opsadmin.spine import humanize
from opsadmin.spine.catalog_locks import CatalogLocked, bounded_catalog_reads
from opsadmin.spine.results import OK, UNKNOWN, WARNING, Section, to_json

SHOWN = 10  # rows of each list the page shows beyond those past the line: the worst first
NEEDS_POSTGRESQL = (
    "these dangers are PostgreSQL's (wraparound, sequences, bloat, vacuum, replication): nothing to check"
)


CATALOG_LOCKED = "catalog locked"


@bounded_catalog_reads
def read_dangers(*names):
    """{name: Danger} of `names` (every danger by default), each table lock waited for PORTAL_INDEX_LOCK_TIMEOUT at
    most: sizes and statistics take a share lock on their table, and a table held ACCESS EXCLUSIVE (an ALTER TABLE,
    a LOCK TABLE) would hold the page, the dashboard and the health checks for as long. CatalogLocked names it."""
    return {name: dangers.DANGERS[name]() for name in names or dangers.DANGERS}


def unsupported():
    """The answer on SQLite: not an error, nothing to check."""
    return Section(OK, f"unsupported on {connection.vendor}", NEEDS_POSTGRESQL)


def _read(name):
    def read():
        if connection.vendor != "postgresql":
            return unsupported()
        try:
            danger = read_dangers(name)[name]
        except CatalogLocked as locked:
            return Section(UNKNOWN, CATALOG_LOCKED, str(locked))
        return Section(danger.status, danger.headline, danger.title, lines=danger.found, data=danger.data)

    read.__name__ = name
    read.__doc__ = dangers.DANGERS[name].__doc__
    return read


wraparound, sequences, constraints, bloat, vacuum, server_settings, replication = (
    _read(name) for name in dangers.DANGERS
)


def everything():
    """Every danger at once: the dashboard tile and system_status; warning while any fires, its lines first."""
    if connection.vendor != "postgresql":
        return unsupported()
    try:
        found = list(read_dangers().values())
    except CatalogLocked as locked:
        return Section(UNKNOWN, CATALOG_LOCKED, str(locked))
    firing = [danger for danger in found if danger.status != OK]
    if not firing:
        return Section(OK, "no slow dangers", "; ".join(danger.headline for danger in found), data=found)
    return Section(
        WARNING,
        humanize.plural(len(firing), "danger"),
        ", ".join(f"{danger.title.lower()}: {danger.headline}" for danger in firing),
        lines=[f"{danger.title}: {line}" for danger in firing for line in danger.found],
        data=found,
    )


def page_context():
    """The page: what fired first, then a section per danger with its worst rows, numbers as people read them."""
    if connection.vendor != "postgresql":
        return {"unsupported": NEEDS_POSTGRESQL, "vendor": connection.vendor}
    try:
        found = read_dangers()
    except CatalogLocked as locked:
        return {"locked": str(locked)}
    return {
        "dangers": list(found.values()),
        "firing": [danger for danger in found.values() if danger.status != OK],
        "wraparound": found["wraparound"].data,
        "old_tables": _worst(found["wraparound"].data.tables, lambda row: row.xid_percent, 0),
        "sequence_rows": _worst(found["sequences"].data.sequences, lambda row: row.used_percent or 0, 0),
        "constraints": found["constraints"].data,
        "bloat": found["bloat"].data,
        "bloat_rows": _worst(found["bloat"].data.estimates, lambda row: row.wasted_bytes, 1),
        "vacuum": found["vacuum"].data,
        "vacuum_rows": [row for row in found["vacuum"].data.tables if not row.autovacuum_enabled or row.dead_rows][
            :SHOWN
        ]
        + [row for row in found["vacuum"].data.tables if not row.autovacuum_enabled][SHOWN:],
        "server": found["settings"].data,
        "replication": found["replication"].data,
        "by_name": found,
        "raw": to_json(list(found.values()), indent=2),
    }


def _worst(rows, measure, at_least):
    """The first SHOWN rows by `measure` (rows come worst first), from `at_least` up."""
    return [row for row in sorted(rows, key=lambda row: -measure(row)) if measure(row) >= at_least][:SHOWN]
