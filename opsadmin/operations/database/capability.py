"""The database capability: indexes and tables as PgHero and Dexter see them, and their maintenance."""

from opsadmin.operations.database import sections, writes
from opsadmin.operations.database.health_check import DeclaredIndexes
from opsadmin.spine.capability import Alias, Capability, DeclaredCheck, Page, Read

CAPABILITY = Capability(
    name="database",
    title="Database",
    icon="database",
    group="Database",
    nav_title="Indexes and tables",
    reads=(
        Read("indexes", "Declared indexes", sections.index_status),
        Read("analysis", "Indexes, tables and advice", sections.analysis),
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
    aliases=(
        Alias("health/database/", "database_health", read="analysis"),
        Alias("optimize/indexes/", "optimize_indexes", write="optimize_database"),
    ),
)
