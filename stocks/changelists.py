"""Change lists built for tables with millions of rows: every page a click reaches is one an index serves.

Django's change list sorts by any column a URL's `?o=` names, sortable or not, and
breaks ties with `-pk`, which no index on a composite key serves (ORDER BY date, id
sorts every day's rows by id). Its paginator counts with COUNT(*) and links the last
page, OFFSET deep; "Show all" renders up to 200 rows at once. LargeTableAdmin changes
these, and nothing else.
"""

from django.db.models import OrderBy
from unfold.admin import ModelAdmin
from unfold.views import ChangeList

from stocks.pagination import ShallowPaginator


class LargeTableAdmin(ModelAdmin):
    """A ModelAdmin whose change list estimates its count, offers shallow pages only, and sorts along indexes."""

    paginator = ShallowPaginator
    show_full_result_count = False  # a second count, of the whole table, on every filtered page
    # "Show all" renders every row on one page: offered up to a page's worth of the longest
    # pages here (100 rows, about 100 ms of rendering), not Django's 200.
    list_max_show_all = 100
    # Fields that complete any ordering of the list into a total one (a unique key), each
    # in the direction of the ordering's last key, so an index on them serves the order.
    # Empty: Django's `-pk`.
    ordering_tiebreak = ()

    def get_changelist(self, request, **kwargs):
        return IndexedChangeList


class IndexedChangeList(ChangeList):
    def get_ordering_field(self, field_name):
        """None (not sortable) for a column outside `sortable_by`, whatever the URL asks."""
        if self.sortable_by is not None and field_name not in self.sortable_by:
            return None
        return super().get_ordering_field(field_name)

    def get_ordering(self, request, queryset):
        tiebreak = self.model_admin.ordering_tiebreak
        if not tiebreak:
            return super().get_ordering(request, queryset)
        # Without the queryset's own (default) order, which Django would append to the
        # columns clicked, in its own directions; and without Django's `-pk`.
        ordering = [key for key in super().get_ordering(request, queryset.order_by()) if key != "-pk"]
        if not ordering:  # no sortable column in the URL's `?o=`: the admin's default order
            return super().get_ordering(request, queryset)
        prefix = "-" if _descending(ordering[-1]) else ""
        named = {_field_name(key) for key in ordering}
        return ordering + [prefix + field for field in tiebreak if field not in named]

    def get_results(self, request):
        super().get_results(request)
        # unfold's title reads "N results (Show all)" whenever the full count differs from
        # N (it is None here: never counted). For the whole table that links the page to
        # itself, and an estimate would read as exact there: the footer's "about N" is the count.
        if self.paginator.estimated or not (self.has_active_filters or self.query):
            self.full_result_count = self.result_count


def _descending(key):
    if isinstance(key, str):
        return key.startswith("-")
    return isinstance(key, OrderBy) and key.descending


def _field_name(key):
    if isinstance(key, str):
        return key.lstrip("-")
    return getattr(key.expression if isinstance(key, OrderBy) else key, "name", None)
