"""The database analysis (read): everything the catalog, drift and suggestions say, with problems and advice.

`problems` are declared indexes that are missing or INVALID: `optimize_database` fixes
those and exits 1 while any remain. `advice` is for a person to weigh (unused or
duplicate indexes, undeclared ones, suggestions, slow queries the suggestions skip, a
missing extension, tables read by sequential scans); it is never an error. SQLite has
drift and the index list only; every other section is None and named in `not_available`.
"""

import time
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.template.defaultfilters import filesizeformat
from django.utils.text import Truncator

from opsadmin.operations.database import catalog, drift, suggestions
from opsadmin.operations.database.catalog import CacheHitRates, DuplicateIndex, IndexRow, SeqScanTable, TableRow
from opsadmin.operations.database.drift import IndexDrift
from opsadmin.operations.database.suggestions import ExtensionStatus, SlowQuery, Suggestion

NOT_ON_SQLITE = "not available on SQLite"
# Sections only PostgreSQL answers: field name -> title.
POSTGRES_SECTIONS = {
    "invalid_indexes": "Invalid indexes",
    "duplicate_indexes": "Duplicate indexes",
    "unused_indexes": "Unused indexes",
    "tables": "Tables",
    "sequential_scan_tables": "Tables read by sequential scans",
    "cache_hit_rates": "Cache hit rates",
    "extensions": "Extensions",
    "slow_queries": "Slow queries",
    "suggestions": "Index suggestions",
}


@dataclass
class DatabaseAnalysis:
    vendor: str
    summary: str
    problems: list[str]  # declared indexes missing or invalid
    declared: list[str]  # the names of every index the models declare
    advice: list[str]
    not_available: list[str]  # "<section>: <why>", for each section left None
    drift: IndexDrift
    indexes: list[IndexRow]
    invalid_indexes: list[IndexRow] | None = None
    duplicate_indexes: list[DuplicateIndex] | None = None
    unused_indexes: list[IndexRow] | None = None
    stats_reset_at: datetime | None = None  # when the scan counters behind "unused" started; None: never reset
    tables: list[TableRow] | None = None
    sequential_scan_tables: list[SeqScanTable] | None = None
    cache_hit_rates: CacheHitRates | None = None
    extensions: list[ExtensionStatus] | None = None
    slow_queries: list[SlowQuery] | None = None
    suggestions: list[Suggestion] | None = None
    seconds: float = 0.0


@dataclass
class IndexHealth:
    """Declared indexes missing or INVALID: what the "indexes" health check warns about."""

    missing: list[str]
    invalid: list[str]
    ok: bool = field(init=False)

    def __post_init__(self):
        self.ok = not (self.missing or self.invalid)


def analyze_database():
    """The whole analysis of the default database, one catalog query per section."""
    started = time.monotonic()
    declared = drift.declared_indexes()
    indexes = catalog.index_rows()
    analysis = DatabaseAnalysis(
        vendor=connection.vendor,
        summary="",
        problems=[],
        declared=[index.name for index in declared],
        advice=[],
        not_available=[],
        drift=drift.index_drift(indexes, declared),
        indexes=indexes,
    )
    if connection.vendor == "postgresql":
        _postgres_sections(analysis)
    else:
        analysis.not_available = [f"{title}: {NOT_ON_SQLITE}" for title in POSTGRES_SECTIONS.values()]
    analysis.problems = _problems(analysis.drift)
    analysis.advice = _advice(analysis, {index.name: index for index in declared})
    analysis.seconds = round(time.monotonic() - started, 3)
    analysis.summary = _summary(analysis)
    return analysis


def index_health():
    """The names of declared indexes missing or INVALID: one catalog query, no statistics, no suggestions."""
    found = drift.index_drift()
    return IndexHealth([index.name for index in found.missing], [index.name for index in found.invalid])


def _postgres_sections(analysis):
    analysis.invalid_indexes = catalog.invalid_indexes()
    analysis.duplicate_indexes = catalog.duplicate_indexes()
    analysis.unused_indexes = catalog.unused_indexes()
    analysis.stats_reset_at = catalog.stats_reset_at()
    analysis.tables = catalog.table_rows()
    analysis.sequential_scan_tables = catalog.sequential_scan_tables()
    analysis.cache_hit_rates = catalog.cache_hit_rates()
    analysis.extensions = suggestions.extension_status()
    status = {extension.name: extension for extension in analysis.extensions}
    statements, hypopg = status[suggestions.PG_STAT_STATEMENTS], status[suggestions.HYPOPG]
    if statements.ready:
        analysis.slow_queries = suggestions.slow_queries()
    else:
        analysis.not_available.append(f"{POSTGRES_SECTIONS['slow_queries']}: {statements.problem}")
    if statements.ready and hypopg.ready:
        analysis.suggestions = suggestions.suggest_indexes([query.query for query in analysis.slow_queries])
    else:
        missing = "; ".join(extension.problem for extension in (statements, hypopg) if not extension.ready)
        analysis.not_available.append(f"{POSTGRES_SECTIONS['suggestions']}: {missing}")


def _problems(found):
    return [f"Declared index {index.name} on {index.table} ({index.model}) is missing." for index in found.missing] + [
        f"Declared index {index.name} on {index.table} is INVALID (a failed concurrent build): rebuild it."
        for index in found.invalid
    ]


def _advice(analysis, declared):
    def owner(name):
        index = declared.get(name)
        return (
            f" {index.model} declares it ({index.kind}): change the model and migrate, don't drop it." if index else ""
        )

    found = analysis.drift
    advice = [f"Declared index {index.name} on {index.table} is being built right now." for index in found.building]
    advice += [
        f"Index {row.name} on {row.table} is declared by no model: declare it in Meta.indexes or drop it."
        for row in found.undeclared
        if row.valid
    ]
    declared_invalid = {index.name for index in found.invalid}
    advice += [
        f"Index {row.name} on {row.table} is INVALID (a failed concurrent build): rebuild or drop it."
        for row in analysis.invalid_indexes or []
        if row.name not in declared_invalid
    ]
    reset = analysis.stats_reset_at
    since = f"since the statistics were reset on {reset:%Y-%m-%d %H:%M %Z}" if reset else "since statistics began"
    advice += [
        f"Index {row.name} on {row.table} ({filesizeformat(row.size_bytes)}) has not been scanned {since}: "
        f"consider dropping it.{owner(row.name)}"
        for row in analysis.unused_indexes or []
    ]
    advice += [
        f"Index {row.name} on {row.table} is covered by {row.covered_by}: consider dropping it.{owner(row.name)}"
        for row in analysis.duplicate_indexes or []
    ]
    advice += [
        f"Index on {suggestion.table} ({', '.join(suggestion.columns)}) would cut the planned cost of a slow query "
        f"from {suggestion.cost_before:,.0f} to {suggestion.cost_after:,.0f}: {suggestion.create_sql}"
        for suggestion in analysis.suggestions or []
    ]
    advice += [
        f"Index suggestions skip a slow query because it {slow.not_planned}: {Truncator(slow.query).chars(120)}"
        for slow in analysis.slow_queries or []
        if slow.not_planned
    ]
    advice += [
        f"{extension.problem}: {extension.how_to_enable}"
        for extension in analysis.extensions or []
        if not extension.ready
    ]
    advice += [
        f"Table {row.table} ({row.live_rows:,} rows) is mostly read by sequential scans: "
        f"{row.index_use_percent:g} % of its scans used an index."
        for row in analysis.sequential_scan_tables or []
    ]
    return advice


def _summary(analysis):
    found = analysis.drift
    tables = len({row.table for row in analysis.indexes})
    state = (
        "every declared index is present and valid"
        if found.ok
        else f"{len(found.missing)} declared index(es) missing, {len(found.invalid)} invalid"
    )
    return (
        f"{connection.display_name}: {len(analysis.indexes)} indexes on {tables} tables; {state}; "
        f"{len(analysis.advice)} piece(s) of advice."
    )
