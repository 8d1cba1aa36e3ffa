"""URL map of the portal: the admin site, the load-balancer health endpoints, the ops and scanner JSON APIs,
and the Prometheus metrics."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from opsadmin.api.metrics import metrics
from stocks.api.site import urls as scanner_api_urls

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    path("health/", include("opsadmin.health.urls")),
    path("api/ops/", include("opsadmin.api.urls")),
    path("api/", scanner_api_urls),
    path("metrics", metrics, name="metrics"),  # Prometheus's default path, without a slash
]

handler400 = "portal.errors.bad_request"
handler403 = "portal.errors.permission_denied"
handler404 = "portal.errors.page_not_found"
handler500 = "portal.errors.server_error"
