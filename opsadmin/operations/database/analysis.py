"""The database analysis (read): everything the catalog, drift and suggestions say, with checks, problems and advice.

`checks` are PgHero's overview: one line per question (missing, invalid, duplicate, unused
indexes, tables that may be missing one, suggestions, slow queries, cache hits), each ok
or not. `problems` are declared indexes that are missing, INVALID or changed: `optimize_database`
fixes those and exits 1 while any remain. `advice` is for a person to weigh, at most one
line per index, so two pieces of advice never pull one index two ways; it is never an
error, and never about a third-party app's tables (`ownership`), which are listed only.
An index is called unused only from PORTAL_UNUSED_INDEX_MIN_BYTES and once its scan
counter has run PORTAL_UNUSED_INDEX_MIN_DAYS (since the statistics began, the index was
built by the portal, or its app last migrated: `history`). SQLite has drift and the index
list only; every other section is None and named in `not_available`.

The catalog is read with a bounded wait for table locks (`locks`): a table held ACCESS
EXCLUSIVE raises CatalogLocked after PORTAL_INDEX_LOCK_TIMEOUT instead of hanging.
"""

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.text import Truncator

from opsadmin.operations.database import catalog, drift, history, ownership, suggestions
from opsadmin.operations.database.catalog import CacheHitRates, DuplicateIndex, IndexRow, SeqScanTable, TableRow
from opsadmin.operations.database.drift import IndexDrift
from opsadmin.operations.database.history import BuiltIndex
from opsadmin.operations.database.suggestions import ExtensionStatus, SlowQuery, Suggestion
from opsadmin.spine import humanize
from opsadmin.spine.catalog_locks import bounded_catalog_reads
from opsadmin.spine.results import FAILING, OK, UNKNOWN, WARNING

NOT_ON_SQLITE = "not available on SQLite"
# Sections only PostgreSQL answers: field name -> title.
POSTGRES_SECTIONS = {
    "invalid_indexes": "Invalid indexes",
    "duplicate_indexes": "Duplicate indexes",
    "unused_indexes": "Unused indexes",
    "tables": "Tables",
    "sequential_scan_tables": "Tables that may be missing an index",
    "cache_hit_rates": "Cache hit rates",
    "extensions": "Extensions",
    "slow_queries": "Slow queries",
    "suggestions": "Index suggestions",
}
CACHE_HIT_PERCENT = 99  # PgHero's threshold: below it, the working set doesn't fit in memory
# The page's sections a check leads to.
INDEXES, TABLES, SUGGESTIONS, QUERIES = "indexes", "tables", "suggestions", "queries"
SEVERITY = {FAILING: 0, WARNING: 1, UNKNOWN: 2, OK: 3}  # worst first


@dataclass
class Check:
    """One line of the overview, as PgHero's: how one question stands, and which section shows the detail."""

    status: str  # ok, warning, failing, unknown
    text: str
    section: str  # "" when no section says more
    detail: str = ""


@dataclass
class UnusedIndex:
    """An index with no scans, and since when its scan counter has been counting at the latest."""

    schema: str
    table: str
    name: str
    size_bytes: int
    counting_since: datetime
    key: str = ""  # the index's name on the search path, else schema.name (IndexRow.key)


@dataclass
class DatabaseAnalysis:
    vendor: str
    summary: str
    problems: list[str]  # declared indexes missing, invalid or present with another definition
    declared: list[str]  # the names of every index the models declare
    checks: list[Check]  # worst first
    advice: list[str]
    not_available: list[str]  # "<section>: <why>", for each section left None
    drift: IndexDrift
    indexes: list[IndexRow]  # the project's tables first, then third-party ones; by table and name
    third_party_tables: list[str]  # listed, never advised on
    built_from_suggestions: list[BuiltIndex]  # indexes the portal built from a suggestion, still there
    invalid_indexes: list[IndexRow] | None = None
    duplicate_indexes: list[DuplicateIndex] | None = None  # on the project's tables
    unused_indexes: list[UnusedIndex] | None = None  # on the project's tables, counted long enough
    unused_not_judged: list[UnusedIndex] | None = None  # no scans yet, but counted for less than the minimum age
    stats_reset_at: datetime | None = None  # pg_stat_reset(); None: never reset
    statistics_since: datetime | None = None  # the scan counters have run at least since then
    tables: list[TableRow] | None = None
    sequential_scan_tables: list[SeqScanTable] | None = None  # on the project's tables
    cache_hit_rates: CacheHitRates | None = None
    extensions: list[ExtensionStatus] | None = None
    slow_queries: list[SlowQuery] | None = None
    suggestions: list[Suggestion] | None = None
    seconds: float = 0.0


@dataclass
class IndexHealth:
    """Declared indexes missing, INVALID or present with another definition: what the "indexes" check warns about."""

    missing: list[str]
    invalid: list[str]
    changed: list[str]
    ok: bool = field(init=False)

    def __post_init__(self):
        self.ok = not (self.missing or self.invalid or self.changed)

    @property
    def problems(self):
        """{"missing": names, "invalid": names, "changed": names}, the kinds with names only."""
        found = {"missing": self.missing, "invalid": self.invalid, "changed": self.changed}
        return {kind: names for kind, names in found.items() if names}

    @property
    def lines(self):
        """One line per problem index: "missing: name"."""
        return [f"{kind}: {name}" for kind, names in self.problems.items() for name in names]


@bounded_catalog_reads
def analyze_database():
    """The whole analysis of the default database, one catalog query per section."""
    started = time.monotonic()
    declared = drift.declared_indexes()
    declared_by_name = {index.name: index for index in declared}
    owners = ownership.table_owners()
    indexes = sorted(catalog.index_rows(), key=lambda row: _index_order(row, owners))
    now = timezone.now()
    built = history.built_indexes(since=now - _unused_min_age())
    present = {row.name for row in indexes}
    analysis = DatabaseAnalysis(
        vendor=connection.vendor,
        summary="",
        problems=[],
        declared=[index.name for index in declared],
        checks=[],
        advice=[],
        not_available=[],
        drift=drift.index_drift(indexes, declared),
        indexes=indexes,
        third_party_tables=sorted({row.table for row in indexes if _owner(row, owners).third_party}),
        built_from_suggestions=[b for name, b in sorted(built.items()) if b.from_suggestion and name in present],
    )
    if connection.vendor == "postgresql":
        _postgres_sections(analysis, owners, declared_by_name, built, now)
    else:
        analysis.not_available = [f"{title}: {NOT_ON_SQLITE}" for title in POSTGRES_SECTIONS.values()]
    analysis.problems = _problems(analysis.drift)
    analysis.advice = _advice(analysis, declared_by_name, owners, built, now)
    analysis.checks = sorted(_checks(analysis), key=lambda check: SEVERITY[check.status])
    analysis.seconds = round(time.monotonic() - started, 3)
    analysis.summary = _summary(analysis)
    return analysis


@bounded_catalog_reads
def index_health():
    """The names of declared indexes missing, INVALID or changed: one catalog query, no statistics, no suggestions."""
    found = drift.index_drift()
    return IndexHealth(*([index.name for index in kind] for kind in (found.missing, found.invalid, found.changed)))


def _unused_min_age():
    return timedelta(days=settings.PORTAL_UNUSED_INDEX_MIN_DAYS)


def _owner(row, owners):
    """Whose a row's table is: models own the search path's tables only; another schema's is nobody's model."""
    return ownership.owner_of(row.table, owners) if getattr(row, "visible", True) else ownership.NO_MODEL


def _index_order(row, owners):
    """The search path's schemas first (the project's tables, then third-party ones), then each other schema."""
    return (not row.visible, "" if row.visible else row.schema, *ownership.project_first(row.table, owners), row.name)


def _postgres_sections(analysis, owners, declared, built, now):
    def ours(rows):
        return [row for row in rows if not _owner(row, owners).third_party]

    analysis.invalid_indexes = catalog.invalid_indexes(analysis.indexes)
    analysis.duplicate_indexes = ours(catalog.duplicate_indexes())
    statistics = catalog.scan_statistics()
    analysis.stats_reset_at, analysis.statistics_since = statistics.reset_at, statistics.counting_since
    never_scanned = _never_scanned(ours(catalog.unused_indexes(rows=analysis.indexes)), statistics, declared, built)
    analysis.unused_indexes = [row for row in never_scanned if now - row.counting_since >= _unused_min_age()]
    analysis.unused_not_judged = [row for row in never_scanned if row not in analysis.unused_indexes]
    analysis.tables = sorted(catalog.table_rows(), key=lambda row: ownership.project_first(row.table, owners))
    analysis.sequential_scan_tables = ours(catalog.sequential_scan_tables())
    analysis.cache_hit_rates = catalog.cache_hit_rates()
    analysis.extensions = suggestions.extension_status()
    status = {extension.name: extension for extension in analysis.extensions}
    statements, hypopg = status[suggestions.PG_STAT_STATEMENTS], status[suggestions.HYPOPG]
    if statements.ready:
        analysis.slow_queries = suggestions.slow_queries()
    else:
        analysis.not_available.append(f"{POSTGRES_SECTIONS['slow_queries']}: {statements.problem}")
    if statements.ready and hypopg.ready:
        analysis.suggestions = suggestions.suggest_indexes(
            [query.query for query in analysis.slow_queries], rows=analysis.indexes
        )
    else:
        missing = "; ".join(extension.problem for extension in (statements, hypopg) if not extension.ready)
        analysis.not_available.append(f"{POSTGRES_SECTIONS['suggestions']}: {missing}")


def _never_scanned(rows, statistics, declared, built):
    """Each index with no scans, with the latest time its scan counter can have started.

    That is when the statistics began, or later: when the portal built the index, or when
    the app whose model declares it last migrated (the migration may have built it).
    """
    migrated = history.last_migrations()

    def counting_since(row):
        starts = [statistics.counting_since]
        if row.key in built:
            starts.append(built[row.key].at)
        if row.key in declared and (app := declared[row.key].model.split(".")[0]) in migrated:
            starts.append(migrated[app])
        return max(starts)

    return [UnusedIndex(row.schema, row.table, row.name, row.size_bytes, counting_since(row), row.key) for row in rows]


def _problems(found):
    return (
        [f"Declared index {index.name} on {index.table} ({index.model}) is missing." for index in found.missing]
        + [
            f"Declared index {index.name} on {index.table} is INVALID (a failed concurrent build): rebuild it."
            for index in found.invalid
        ]
        + [
            f"Declared index {index.name} on {index.table} is present with another definition: "
            f"{index.present.definition} (declared: {index.declared.create_sql}); optimize_database builds it again "
            "from the declaration."
            for index in found.changed
        ]
    )


# --- Advice -------------------------------------------------------------------------------------------


def _advice(analysis, declared, owners, built, now):
    """At most one line per index (invalid, else duplicate, else unused, else undeclared), then the rest."""
    found = analysis.drift
    advice = [f"Declared index {index.name} on {index.table} is being built right now." for index in found.building]
    declared_invalid = {index.name for index in found.invalid}
    invalid = {row.key: row for row in analysis.invalid_indexes or [] if row.key not in declared_invalid}
    duplicates = {row.key: row for row in analysis.duplicate_indexes or []}
    unused = {row.key: row for row in analysis.unused_indexes or []}
    undeclared = {row.key for row in found.undeclared if row.valid}
    changed = {index.name for index in found.changed}  # a problem already: built again from its declaration
    for row in analysis.indexes:
        if (_owner(row, owners).third_party and row.key not in invalid) or row.key in changed:
            continue
        source = built.get(row.key)
        source = source if source and source.from_suggestion else None
        line = _index_advice(row, invalid, duplicates, unused, undeclared, declared.get(row.key), source, now)
        if line:
            advice.append(line)
    advice += [_suggestion_advice(suggestion) for suggestion in analysis.suggestions or []]
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
    # PgHero's wording for its missing_indexes: the percent of times an index was used.
    advice += [
        f"Table {catalog.index_key(row.schema, row.table, row.visible)} ({humanize.plural(row.live_rows, 'row')}) "
        "may be missing an index: an index was used "
        f"{row.index_use_percent} % of the times it was scanned (PgHero's rule: under 95 % from 10,000 rows)."
        for row in analysis.sequential_scan_tables or []
    ]
    rates = analysis.cache_hit_rates
    if rates and _low_cache_hit_rate(rates):
        advice.append(
            f"The cache hit rate should be above {CACHE_HIT_PERCENT} % in most cases (tables "
            f"{humanize.percentage(rates.table_percent)}, indexes {humanize.percentage(rates.index_percent)}): you can "
            "often raise it by adding memory (shared_buffers)."
        )
    return advice


def _suggestion_advice(suggestion):
    """Create the suggested index, or rebuild the INVALID one that has its columns."""
    saving = f"cut the planned cost of a slow query from {suggestion.cost_before:,.0f} to {suggestion.cost_after:,.0f}"
    if suggestion.rebuild:
        return f"Rebuild the invalid index {suggestion.rebuild}: it would {saving}."
    return f"Index on {suggestion.table} ({', '.join(suggestion.columns)}) would {saving}: {suggestion.create_sql}"


def _index_advice(row, invalid, duplicates, unused, undeclared, declared, source, now):
    """The one piece of advice about index `row` (`source`: its build from a suggestion, if so), or ""."""
    subject = f"Index {row.key} on {catalog.index_key(row.schema, row.table, row.visible)}"
    if row.waits_for_partitions:
        return (
            f"{subject} is a partitioned index made ON ONLY: it stays INVALID, by design, until every partition's "
            "index is attached to it (ALTER INDEX ... ATTACH PARTITION); attach them rather than rebuild or drop it."
        )
    if row.key in invalid:
        return f"{subject} is INVALID (a failed concurrent build): rebuild or drop it."
    origin = f", built from a suggestion by run #{source.run} on {source.at:%Y-%m-%d}," if source else ""
    keep = (
        f" {declared.model} declares it ({declared.kind}): change the model and migrate rather than drop it."
        if declared
        else ""
    )
    if row.key in duplicates:
        covering = duplicates[row.key].covered_by
        size = humanize.byte_size(row.size_bytes)
        return f"{subject} ({size}){origin} is covered by {covering}: consider dropping it.{keep}"
    if row.key in unused:
        size = humanize.byte_size(row.size_bytes)
        nobody = " is declared by no model and" if row.key in undeclared and not source else ""
        gone = " The query it was built for may be gone." if source else ""
        return (
            f"{subject} ({size}){origin}{nobody} has not been scanned in "
            f"{_age(unused[row.key].counting_since, now)}: consider dropping it.{gone}{keep}"
        )
    if row.key in undeclared:
        if source:
            return (
                f"{subject} was built from a suggestion by run #{source.run} on {source.at:%Y-%m-%d}: declare it in "
                "Meta.indexes of its model to keep it."
            )
        return f"{subject} is declared by no model: declare it in Meta.indexes, or drop it if nothing needs it."
    return ""


def _age(since, now):
    """ "12 days (since 2026-11-18)": how long a counter has run, for advice."""
    days = (now - since).days
    return f"{humanize.plural(days, 'day') if days else 'under a day'} (since {since:%Y-%m-%d %H:%M})"


def _low_cache_hit_rate(rates):
    return any(rate is not None and rate < CACHE_HIT_PERCENT for rate in (rates.table_percent, rates.index_percent))


# --- Checks (the overview) ----------------------------------------------------------------------------


def _checks(analysis):
    missing, changed = analysis.drift.missing, analysis.drift.changed
    checks = [
        Check(WARNING, f"{_indexes(len(missing), 'declared index')} missing", INDEXES)
        if missing
        else Check(OK, "Every declared index is present", INDEXES)
    ]
    if changed:
        checks.append(Check(WARNING, f"{_indexes(len(changed), 'declared index')} with another definition", INDEXES))
    if analysis.vendor != "postgresql":
        invalid = analysis.drift.invalid
        if invalid:
            checks.append(Check(WARNING, f"{_indexes(len(invalid), 'invalid declared index')}", INDEXES))
        checks.append(
            Check(
                UNKNOWN,
                "Invalid, duplicate and unused indexes, tables missing an index, slow queries and suggestions "
                "need PostgreSQL's statistics",
                section="",
            )
        )
        return checks
    checks.append(_counted(analysis.invalid_indexes, "invalid index", INDEXES))
    checks.append(_counted(analysis.duplicate_indexes, "duplicate index", INDEXES))
    checks.append(_unused_check(analysis))
    tables = analysis.sequential_scan_tables
    checks.append(
        Check(WARNING, f"{humanize.plural(len(tables), 'table')} may be missing an index", TABLES)
        if tables
        else Check(OK, "No table seems to be missing an index", TABLES)
    )
    checks.append(
        _counted(analysis.suggestions, "suggested index", SUGGESTIONS)
        if analysis.suggestions is not None
        else Check(UNKNOWN, "Index suggestions need pg_stat_statements and hypopg", SUGGESTIONS)
    )
    checks.append(
        _counted(analysis.slow_queries, "slow query", QUERIES, plural="slow queries")
        if analysis.slow_queries is not None
        else Check(UNKNOWN, "Query stats must be enabled for slow queries", QUERIES)
    )
    checks.append(_cache_check(analysis.cache_hit_rates))
    return checks


def _counted(rows, noun, section, plural=None):
    plural = plural or (noun[:-5] + "indexes" if noun.endswith("index") else noun + "s")
    if rows:
        return Check(WARNING, humanize.plural(len(rows), noun, plural), section)
    return Check(OK, f"No {plural}", section)


def _unused_check(analysis):
    threshold = humanize.byte_size(settings.PORTAL_UNUSED_INDEX_MIN_BYTES)
    waiting = analysis.unused_not_judged
    detail = (
        f"{_indexes(len(waiting), 'index')} over {threshold} with no scans yet "
        f"{'is' if len(waiting) == 1 else 'are'} judged once counted for "
        f"{settings.PORTAL_UNUSED_INDEX_MIN_DAYS:g} days (PORTAL_UNUSED_INDEX_MIN_DAYS)"
        if waiting
        else ""
    )
    unused = analysis.unused_indexes
    if unused:
        total = humanize.byte_size(sum(row.size_bytes for row in unused))
        return Check(WARNING, f"{_indexes(len(unused), 'unused index')} over {threshold} ({total})", INDEXES, detail)
    return Check(OK, f"No unused indexes over {threshold}", INDEXES, detail)


def _cache_check(rates):
    if rates.table_percent is None and rates.index_percent is None:
        return Check(OK, "No cache hit rate yet: nothing read", TABLES)
    detail = f"tables {humanize.percentage(rates.table_percent)}, indexes {humanize.percentage(rates.index_percent)}"
    if _low_cache_hit_rate(rates):
        return Check(WARNING, "Low cache hit rate", TABLES, detail)
    return Check(OK, f"Cache hit rate above {CACHE_HIT_PERCENT} %", TABLES, detail)


def _indexes(number, noun):
    """ "1 unused index", "3 unused indexes"."""
    return humanize.plural(number, noun, noun[:-5] + "indexes")


def _summary(analysis):
    found = analysis.drift
    tables = len({row.table for row in analysis.indexes})
    state = (
        "every declared index is present and valid"
        if found.ok
        else "declared indexes: "
        + ", ".join(
            f"{len(indexes):,} {kind}"
            for kind, indexes in (("missing", found.missing), ("invalid", found.invalid), ("changed", found.changed))
            if indexes
        )
    )
    advice = humanize.plural(len(analysis.advice), "piece of advice", "pieces of advice")
    return (
        f"{connection.display_name}: {_indexes(len(analysis.indexes), 'index')} on {humanize.plural(tables, 'table')}; "
        f"{state}; {advice}."
    )
