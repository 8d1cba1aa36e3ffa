"""The database capability: indexes and tables as PgHero and Dexter see them, and their maintenance."""

from opsadmin.operations.database import growth, growth_read, sections, writes
from opsadmin.operations.database.health_check import DeclaredIndexes
from opsadmin.spine.capability import Alias, Capability, DeclaredCheck, Page, Read, Scheduled

CAPABILITY = Capability(
    name="database",
    title="Database",
    icon="database",
    group="Database",
    nav_title="Indexes and tables",
    reads=(
        Read("indexes", "Declared indexes", sections.index_status),
        Read("analysis", "Indexes, tables and advice", sections.analysis),
        Read(
            "history",
            "Growth: space per table, queries over time",
            growth_read.history,
            form_class=growth_read.HistoryForm,
        ),
    ),
    writes=(
        writes.OPTIMIZE_DATABASE,
        writes.REBUILD_INDEXES,
        writes.CREATE_SUGGESTED_INDEXES,
        writes.DROP_INDEXES,
        writes.ANALYZE_TABLES,
        writes.VACUUM_TABLES,
    ),
    status="indexes",
    page=Page("opsadmin/database.html", sections.page_context),
    health_checks=(DeclaredCheck("indexes", DeclaredIndexes),),
    # The growth history, audited runs of the task worker: sizes daily, query statistics hourly, the declared
    # indexes nightly; each looks this often whether its period's run is done (growth.py).
    scheduled=tuple(
        Scheduled(name, lambda name=name: growth.LOOK_EVERY_SECONDS[name], function)
        for name, function in (
            (growth.SIZES, growth.capture_sizes),
            (growth.QUERIES, growth.capture_query_stats),
            (growth.INDEX_CHECK, growth.check_declared_indexes),
        )
    ),
    aliases=(
        Alias("health/database/", "database_health", read="analysis"),
        Alias("optimize/indexes/", "optimize_indexes", write="optimize_database"),
    ),
)
