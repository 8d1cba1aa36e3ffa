"""The portal's URLs plus what benchmarks compare it with (nothing else loads this).

- /bench/plain-health/ (bench/health.py): django-health-check's plain `HealthCheckView` over the
  same check list (the settings' and the capabilities'), no names, no budget, no cache.
- /bench/before-admin/ (bench/admin_lists.py): the daily bars list as it was before it was built
  for volume: any column sortable, every page linked, Django's tie-break; the count estimated.
- /bench/plain-screen/ (bench/api.py): the scanner API's screen query served by a plain view: no
  parameters checked, no caller, no rate limit, no cache, no compression.
"""

from django.http import JsonResponse
from django.urls import path
from health_check.views import HealthCheckView
from unfold.admin import ModelAdmin
from unfold.sites import UnfoldAdminSite

from opsadmin.health.checks import check_entries
from portal.urls import urlpatterns as portal_urlpatterns
from stocks.admin import DailyBarAdmin
from stocks.models import DailyBar, Stock
from stocks.pagination import EstimatedCountPaginator
from stocks.querysets import PUBLIC_COLUMNS

PLAIN_CHECKS = [(check, kwargs) for _name, check, kwargs, _critical in check_entries()]


class BeforeDailyBarAdmin(ModelAdmin):
    list_display = DailyBarAdmin.list_display
    # The same columns, formatted alike: only sorting, paging and the tie-break are as they were.
    opened, highest, lowest, closed, traded = (
        DailyBarAdmin.opened,
        DailyBarAdmin.highest,
        DailyBarAdmin.lowest,
        DailyBarAdmin.closed,
        DailyBarAdmin.traded,
    )
    list_select_related = ("stock",)
    ordering = DailyBarAdmin.ordering
    list_per_page = DailyBarAdmin.list_per_page
    paginator = EstimatedCountPaginator
    show_full_result_count = False


before_site = UnfoldAdminSite(name="before")
before_site.register(DailyBar, BeforeDailyBarAdmin)


def plain_screen(request):
    """`?limit=` and `?max_market_cap=` as the API takes them, every public column, one page."""
    arguments = {name: int(request.GET[name]) for name in ("limit", "max_market_cap") if name in request.GET}
    rows = list(Stock.objects.screen(**arguments).values(*PUBLIC_COLUMNS))
    return JsonResponse({"results": rows, "next_cursor": None})


urlpatterns = [
    *portal_urlpatterns,
    path("bench/plain-health/", HealthCheckView.as_view(checks=PLAIN_CHECKS), name="bench_plain_health"),
    path("bench/before-admin/", before_site.urls),
    path("bench/plain-screen/", plain_screen, name="bench_plain_screen"),
]
