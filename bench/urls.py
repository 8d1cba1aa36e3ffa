"""The portal's URLs plus a plain django-health-check view over the same check list, for bench/health.py.

The plain view is what readiness is measured against: the library's `HealthCheckView` with
the checks of `PORTAL_HEALTH_CHECKS`, no names, no budget, no cache.
"""

from django.conf import settings
from django.urls import path
from health_check.views import HealthCheckView

from portal.urls import urlpatterns as portal_urlpatterns

PLAIN_CHECKS = [(check_path, kwargs) for _name, check_path, kwargs, _critical in settings.PORTAL_HEALTH_CHECKS]

urlpatterns = [
    *portal_urlpatterns,
    path("bench/plain-health/", HealthCheckView.as_view(checks=PLAIN_CHECKS), name="bench_plain_health"),
]
