"""Ops pages of the admin site that are not model change lists."""

from django.views.generic import TemplateView
from unfold.views import UnfoldSiteViewMixin

from opsadmin.operations.health import health_status


class HealthPage(UnfoldSiteViewMixin, TemplateView):
    """Every readiness check with its status, message and time, as load balancers see them."""

    title = "Health"
    permission_required = ("opsadmin.view_ops",)
    template_name = "opsadmin/health.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(health=health_status(), **kwargs)
