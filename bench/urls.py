"""The portal's URLs plus a plain django-health-check view over the same check list, for bench/health.py.

The plain view is what readiness is measured against: the library's `HealthCheckView` with
the same configured checks (the settings' and the capabilities'), no names, no budget, no cache.
"""

from django.urls import path
from health_check.views import HealthCheckView

from opsadmin.health.checks import check_entries
from portal.urls import urlpatterns as portal_urlpatterns

PLAIN_CHECKS = [(check, kwargs) for _name, check, kwargs, _critical in check_entries()]

urlpatterns = [
    *portal_urlpatterns,
    path("bench/plain-health/", HealthCheckView.as_view(checks=PLAIN_CHECKS), name="bench_plain_health"),
]
