"""Health routes, included at /health/ by portal/urls.py.

The two probes are normally answered earlier, by `HealthProbeMiddleware`; these
patterns name them (`manage.py health_check health_ready`) and serve them without it.
"""

from django.urls import path

from opsadmin.health.views import HealthDetailView, live, ready

urlpatterns = [
    path("", HealthDetailView.as_view(), name="health_detail"),
    path("live/", live, name="health_live"),
    path("ready/", ready, name="health_ready"),
]
