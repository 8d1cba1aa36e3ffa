"""The database capability's reads as sections, and what its admin page shows."""

from django.conf import settings
from django.utils import timezone

from opsadmin.operations.database import growth_chart, growth_read, ownership
from opsadmin.operations.database.analysis import analyze_database, index_health
from opsadmin.operations.database.catalog import table_names
from opsadmin.spine import humanize
from opsadmin.spine.catalog_locks import CatalogLocked
from opsadmin.spine.results import FAILING, OK, UNKNOWN, WARNING, Section

CATALOG_LOCKED = "catalog locked"


def index_status():
    """Declared indexes missing, INVALID or changed (one catalog query): the dashboard tile and system_status."""
    try:
        health = index_health()
    except CatalogLocked as locked:
        return Section(UNKNOWN, CATALOG_LOCKED, str(locked))
    if health.ok:
        return Section(OK, "indexes ok", "every declared index is present and valid", data=health)
    broken = health.missing + health.invalid + health.changed
    return Section(
        WARNING,
        f"{len(broken)} index problem{'s' if len(broken) != 1 else ''}",
        ", ".join(broken),
        lines=health.lines,
        data=health,
    )


def analysis():
    """Everything the catalog, drift and suggestions say: problems first, then the checks, then advice."""
    try:
        found = analyze_database()
    except CatalogLocked as locked:
        return Section(UNKNOWN, CATALOG_LOCKED, str(locked))
    count = len(found.problems)
    headline = f"{count} declared index problem{'s' if count != 1 else ''}" if count else "declared indexes ok"
    checks = [f"{check.status}: {check.text}" for check in found.checks if check.status != OK]
    return Section(
        WARNING if found.problems else OK,
        headline,
        found.summary,
        lines=found.problems + checks + [f"advice: {line}" for line in found.advice],
        data=found,
    )


def page_context():
    """The Database page: the checks and advice first, then indexes, tables, suggestions, slow queries and growth.

    Each index comes with what the page shows of it (badges, sizes and counts as people
    read them, the raw numbers its sorting uses). A locked catalog leaves only the message.
    """
    try:
        found = analyze_database()
    except CatalogLocked as locked:
        return {"locked": str(locked), "checks": [{"status": FAILING, "text": str(locked)}]}
    owners = ownership.table_owners()
    return {
        "analysis": found,
        "checks": found.checks,
        "index_entries": _index_entries(found, owners),
        "index_tables": list(dict.fromkeys(row.table for row in found.indexes)),
        "table_entries": _table_entries(found, owners),
        "suggestions_to_create": [suggestion for suggestion in found.suggestions or () if not suggestion.rebuild],
        "slow_query_entries": [
            {"query": query, "total_seconds": query.total_ms / 1000} for query in found.slow_queries or ()
        ],
        "slow_query_min_calls": settings.PORTAL_SLOW_QUERY_MIN_CALLS,
        "slow_query_min_mean_ms": settings.PORTAL_SLOW_QUERY_MIN_MEAN_MS,
        **growth_context(),
    }


def growth_context(now=None):
    """The Growth section: the largest tables' space over the window, every table's growth, and for each of the
    statements one can pick, its mean time and calls over time (the page shows the chosen one)."""
    now = now or timezone.now()
    found = growth_read.growth_history(now=now)
    return {
        "growth": found,
        "growth_space_chart": growth_chart.space_chart(found, now),
        "growth_tables": [
            {
                "row": row,
                "size": humanize.byte_size(row.last_bytes),
                "growth": growth_read.signed_bytes(row.growth_bytes),
                "percent": growth_read.signed_percent(row.growth_percent),
            }
            for row in found.tables
        ],
        "growth_queries": [
            {
                "query": query,
                "charts": growth_chart.query_charts(query, found.since, now),
                "calls": humanize.count(query.calls),
                "mean": growth_read.mean_text(query),
            }
            for query in found.queries
        ],
    }


def _index_entries(found, owners):
    undeclared = {row.key for row in found.drift.undeclared}
    duplicates = {row.key: row.covered_by for row in found.duplicate_indexes or ()}
    unused = {row.key for row in found.unused_indexes or ()}
    waiting = {row.key: row.counting_since for row in found.unused_not_judged or ()}
    from_suggestion = {built.name: built for built in found.built_from_suggestions}
    entries = []
    for row in found.indexes:
        owner = ownership.owner_of(row.table, owners) if row.visible else ownership.NO_MODEL
        badges = []
        if row.waits_for_partitions:
            badges.append(("waiting for its partitions' indexes (ON ONLY)", "info"))
        elif not row.valid:
            badges.append(("being built" if row.building else "invalid", "info" if row.building else "danger"))
        if row.attached_to:
            badges.append((f"attached to {row.attached_to}", "default"))
        if row.key in from_suggestion:
            badges.append((f"from a suggestion, run #{from_suggestion[row.key].run}", "primary"))
        elif row.key in undeclared and not owner.third_party:
            badges.append(("declared by no model", "default"))
        if row.key in duplicates:
            badges.append((f"duplicate of {duplicates[row.key]}", "warning"))
        if row.key in unused:
            badges.append(("unused", "warning"))
        elif row.key in waiting:
            badges.append((f"no scans yet (counting since {waiting[row.key]:%Y-%m-%d})", "default"))
        entries.append(
            {
                "row": row,
                "owner": owner.app,
                "third_party": owner.third_party,
                "kind": "primary key" if row.primary else "unique" if row.unique else row.method,
                "size": humanize.byte_size(row.size_bytes),
                "scans": humanize.count(row.scans),
                "badges": badges,
            }
        )
    return entries


def _table_entries(found, owners):
    """PostgreSQL: each table's statistics, as people read them. SQLite: the table names (ANALYZE takes any)."""
    if found.tables is None:
        return [
            {"table": name, "owner": ownership.owner_of(name, owners)}
            for name in sorted(table_names(), key=lambda table: ownership.project_first(table, owners))
        ]
    return [
        {
            "table": row.key,
            "owner": ownership.owner_of(row.table, owners) if row.visible else ownership.NO_MODEL,
            "row": row,
            "size": humanize.byte_size(row.table_bytes),
            "index_size": humanize.byte_size(row.index_bytes),
            "live_rows": humanize.count(row.live_rows),
            "dead_rows": humanize.count(row.dead_rows),
            "index_use": humanize.percentage(row.index_use_percent),
            "cache_hit": humanize.percentage(row.table_hit_percent),
            "last_vacuum": max(filter(None, (row.last_vacuum, row.last_autovacuum)), default=None),
            "last_analyze": max(filter(None, (row.last_analyze, row.last_autoanalyze)), default=None),
        }
        for row in found.tables
    ]
