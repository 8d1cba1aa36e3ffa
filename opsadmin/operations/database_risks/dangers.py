"""Each slow danger judged against its threshold: one function per danger, each a `Danger` with its rows.

A danger fires (status warning) when something crosses its line; the thresholds are settings
(docs/deployment.md), each with the reason for its default beside it in portal/settings.py.
Rows are everything the catalog answered (the page shows the worst first); `found` lists the
ones past the line, as sentences a person acts on. PostgreSQL only.
"""

from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection

from opsadmin.operations.database_risks import catalog, tuning
from opsadmin.runtime.postgresql import pooling
from opsadmin.spine import humanize
from opsadmin.spine.results import OK, WARNING

DEAD_ROWS_MIN = 1_000  # fewer dead rows than this is never a danger, whatever their share of a tiny table
REPLICA_LAG_WARN_SECONDS = 5  # PgHero's replication lag warning


@dataclass
class Danger:
    name: str
    title: str
    status: str  # ok or warning
    headline: str
    found: list[str] = field(default_factory=list)  # what crossed the line, worst first
    data: object = None


@dataclass
class Wraparound:
    warn_percent: float
    limits: catalog.FreezeLimits
    databases: list[catalog.DatabaseAge]
    tables: list[catalog.TableAge]


@dataclass
class Sequences:
    warn_percent: float
    sequences: list[catalog.SequenceRow]


@dataclass
class Bloat:
    min_bytes: int
    min_percent: float
    estimates: list[catalog.BloatEstimate]


@dataclass
class Vacuum:
    warn_percent: float
    min_dead_rows: int
    tables: list[catalog.VacuumRow]


@dataclass
class Settings:
    autovacuum: bool
    track_counts: bool
    memory: tuning.Memory
    advice: list[tuning.Advice]
    pooled_statement_timeout: str | None  # through a transaction pooler, the role's statement_timeout; else None


@dataclass
class Replication:
    slots: list[catalog.SlotRow]
    replicas: list[catalog.ReplicaRow]
    lag_warn_seconds: float


def _danger(name, title, found, quiet, data, *, noun):
    if not found:
        return Danger(name, title, OK, quiet, [], data)
    return Danger(name, title, WARNING, humanize.plural(len(found), noun), found, data)


def wraparound():
    """Databases and tables whose oldest xid or multixact is past `PORTAL_WRAPAROUND_WARN_PERCENT` of autovacuum's
    freeze age (autovacuum_freeze_max_age; autovacuum_multixact_freeze_max_age for multixacts)."""
    line = settings.PORTAL_WRAPAROUND_WARN_PERCENT
    data = Wraparound(line, catalog.freeze_limits(), catalog.database_ages(), catalog.table_ages())
    found = [
        f"database {row.database}: {_ages(row)}"
        for row in data.databases
        if max(row.xid_percent, row.multixact_percent) > line
    ] + [f"{row.qualified}: {_ages(row)}" for row in data.tables if max(row.xid_percent, row.multixact_percent) > line]
    oldest = max((row.xid_percent for row in data.databases), default=0)
    quiet = f"oldest xid at {humanize.percentage(oldest)} of autovacuum_freeze_max_age"
    return _danger("wraparound", "Transaction ID wraparound", found, quiet, data, noun="old xid")


def _ages(row):
    return (
        f"xid age {humanize.count(row.xid_age)} ({humanize.percentage(row.xid_percent)} of the freeze age),"
        f" multixact age {humanize.count(row.multixact_age)} ({humanize.percentage(row.multixact_percent)})"
    )


def sequences():
    """Sequences past `PORTAL_SEQUENCE_WARN_PERCENT` of their limit: their own maximum, or their column type's."""
    line = settings.PORTAL_SEQUENCE_WARN_PERCENT
    rows = sorted(catalog.sequences(), key=lambda row: -(row.used_percent or 0))
    found = [
        f"{row.qualified}: {humanize.count(row.last_value)} of {humanize.count(row.limit)}"
        f" ({humanize.percentage(row.used_percent)}){_capped(row)}"
        for row in rows
        if (row.used_percent or 0) > line
    ]
    quiet = f"{humanize.plural(len(rows), 'sequence')}, none past {humanize.percentage(line)}"
    return _danger("sequences", "Sequences near their limit", found, quiet, Sequences(line, rows), noun="sequence")


def _capped(row):
    """ ", capped by integer column public.t.id": when the column's type, not the sequence's, sets the limit."""
    if row.column and row.column_type in ("smallint", "integer") and row.data_type != row.column_type:
        return f", capped by {row.column_type} column {row.column}"
    return f", {row.data_type}"


def constraints():
    """NOT VALID constraints: old rows were never checked against them."""
    rows = catalog.not_valid_constraints()
    found = [f"{row.qualified}: {row.kind} {row.name} NOT VALID ({row.definition})" for row in rows]
    return _danger("constraints", "NOT VALID constraints", found, "every constraint validated", rows, noun="constraint")


def bloat():
    """Tables and btree indexes whose estimated waste is at least `PORTAL_BLOAT_MIN_BYTES`, and at least
    `PORTAL_BLOAT_MIN_PERCENT` of their size."""
    data = Bloat(settings.PORTAL_BLOAT_MIN_BYTES, settings.PORTAL_BLOAT_MIN_PERCENT, catalog.bloat_estimates())
    found = [
        f"{row.kind} {row.qualified}: about {humanize.byte_size(row.wasted_bytes)} wasted of"
        f" {humanize.byte_size(row.size_bytes)} ({humanize.percentage(row.wasted_percent)})"
        for row in data.estimates
        if row.wasted_bytes >= data.min_bytes and row.wasted_percent >= data.min_percent
    ]
    quiet = f"none over {humanize.byte_size(data.min_bytes)} and {humanize.percentage(data.min_percent)} wasted"
    return _danger("bloat", "Estimated bloat", found, quiet, data, noun="bloated relation")


def vacuum():
    """Tables with autovacuum disabled, and those whose dead rows are past `PORTAL_DEAD_ROWS_WARN_PERCENT`."""
    data = Vacuum(settings.PORTAL_DEAD_ROWS_WARN_PERCENT, DEAD_ROWS_MIN, catalog.vacuum_rows())
    found = [
        f"{row.qualified}: autovacuum disabled (autovacuum_enabled=false)"
        for row in data.tables
        if not row.autovacuum_enabled
    ]
    found += [
        f"{row.qualified}: {humanize.count(row.dead_rows)} dead rows, {humanize.percentage(row.dead_percent)}"
        f" of {humanize.count(row.live_rows + row.dead_rows)}"
        for row in data.tables
        if row.dead_rows >= data.min_dead_rows and row.dead_percent >= data.warn_percent
    ]
    return _danger("vacuum", "Dead rows and autovacuum", found, "no table waits long for VACUUM", data, noun="table")


def server_settings():
    """Autovacuum off (or the statistics it needs) is a danger, and so is no statement_timeout for the role behind a
    transaction pooler (the portal's own travels as a startup option, which PgBouncer refuses); the memory settings
    are advice, never a warning."""
    server = catalog.server_settings()
    memory = tuning.machine_memory()
    pooled = server["statement_timeout"].value if pooling.transaction_pooled(connection) else None
    data = Settings(
        server["autovacuum"].value == "on",
        server["track_counts"].value == "on",
        memory,
        tuning.advice(server, memory),
        pooled,
    )
    found = ["autovacuum is off: nothing freezes old rows or reclaims dead ones"] if not data.autovacuum else []
    found += ["track_counts is off: autovacuum can't tell which tables need it"] if not data.track_counts else []
    if pooled == "0":
        found.append(
            "statement_timeout is 0 for the pooled role: through PgBouncer the portal can't send its own, so a query"
            " it gave up on runs on and holds a pooled connection (ALTER ROLE ... SET statement_timeout)"
        )
    off_advice = [item for item in data.advice if item.verdict in (tuning.BELOW, tuning.ABOVE)]
    quiet = "autovacuum on" + (f"; {humanize.plural(len(off_advice), 'setting')} off advice" if off_advice else "")
    return _danger("settings", "Autovacuum and settings", found, quiet, data, noun="setting")


def replication():
    """Inactive replication slots (they keep WAL until they are used or dropped), and replicas lagging behind."""
    data = Replication(catalog.replication_slots(), catalog.replicas(), REPLICA_LAG_WARN_SECONDS)
    found = [
        f"slot {slot.name} ({slot.kind}) inactive, holding {humanize.byte_size(slot.retained_bytes)} of WAL"
        for slot in data.slots
        if not slot.active
    ] + [
        f"replica {replica.name or replica.client}: {humanize.duration(replica.replay_lag_seconds)} behind"
        f" ({humanize.byte_size(replica.lag_bytes)})"
        for replica in data.replicas
        if (replica.replay_lag_seconds or 0) > data.lag_warn_seconds
    ]
    if not data.slots and not data.replicas:
        quiet = "no replication slots and no replicas"
    else:
        quiet = f"{humanize.plural(len(data.slots), 'slot')}, {humanize.plural(len(data.replicas), 'replica')}"
    return _danger("replication", "Replication", found, quiet, data, noun="replication problem")


DANGERS = {
    "wraparound": wraparound,
    "sequences": sequences,
    "constraints": constraints,
    "bloat": bloat,
    "vacuum": vacuum,
    "settings": server_settings,
    "replication": replication,
}
