"""The caches capability: what each cache alias holds and how its store is doing; scoped clearing."""

from opsadmin.operations.caches import sections, writes
from opsadmin.spine.capability import Alias, Capability, DeclaredPermission, Page, Read

CAPABILITY = Capability(
    name="caches",
    title="Caches",
    icon="memory",
    group="Caches",
    nav_title="Cache aliases",
    reads=(
        Read("hit_ratio", "Hit ratio", sections.hit_ratio),
        Read("inventory", "Every alias", sections.inventory),
    ),
    writes=(writes.CLEAR_CACHE, writes.FLUSH_REDIS_DB, writes.INVALIDATE_STOCKS),
    status="hit_ratio",
    page=Page("opsadmin/caches.html", sections.page_context),
    actions=(writes.INVALIDATE_SELECTED_STOCKS,),
    # The stock list, where the invalidation of selected stocks is.
    permissions=(
        DeclaredPermission("view_stock", "Can view stock", ("Ops viewers", "Ops operators"), model="stocks.Stock"),
    ),
    system_checks=(sections.distinct_prefixes,),
    aliases=(
        Alias("caches/", "caches", read="inventory"),
        Alias("caches/clear/", "clear_cache", write="clear_cache"),
        Alias("caches/flush/", "flush_redis_db", write="flush_redis_db"),
        Alias("caches/invalidate-stocks/", "invalidate_stocks", write="invalidate_stocks"),
    ),
)
