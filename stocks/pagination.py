"""Change-list pagination that stays fast on tables with millions of rows."""

import json

from django.core.exceptions import EmptyResultSet
from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property


def planner_row_estimate(queryset):
    """The row count PostgreSQL's planner expects for `queryset`, from one EXPLAIN.

    Costs a plan, not a scan: the estimate comes from table statistics, so it is
    as fresh as the last (auto)ANALYZE.
    """
    try:
        sql, params = queryset.order_by().query.sql_with_params()
    except EmptyResultSet:  # e.g. queryset.none(): nothing to plan
        return 0
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


class EstimatedCountPaginator(Paginator):
    """Counts exactly while small; above the threshold, trusts the planner's estimate.

    `SELECT COUNT(*)` reads the whole table (or index) on PostgreSQL; at millions of
    rows that is seconds per page view. Other databases count exactly.
    """

    exact_count_below = 100_000
    estimated = False  # True once `count` came from the planner

    @cached_property
    def count(self):
        queryset = self.object_list
        if connections[queryset.db].vendor != "postgresql":
            return super().count
        estimate = planner_row_estimate(queryset)
        if estimate < self.exact_count_below:
            return super().count
        self.estimated = True
        return estimate


class ShallowPaginator(EstimatedCountPaginator):
    """Offers only the pages within the first `reachable_rows` rows of the list's order.

    A page is `LIMIT n OFFSET m`, and the database walks all m rows before it (joins
    included) to skip them: the last of 10,000 pages of a million bars took seconds.
    The far end of an order is the first page of the reverse order, one click on the
    column's header away; search and filters narrow the list. So pages stop here, and
    a page number past the last one offered is refused like any invalid page.
    """

    reachable_rows = 10_000

    @cached_property
    def num_pages(self):
        return min(super().num_pages, max(1, self.reachable_rows // self.per_page))

    @property
    def reachable_count(self):
        """Rows on the pages offered."""
        return min(self.count, self.num_pages * self.per_page)

    @property
    def truncated(self):
        """Whether rows lie past the last page offered."""
        return self.reachable_count < self.count
