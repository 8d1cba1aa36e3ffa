"""Ops pages of the admin site that are not model change lists."""

from django.views.generic import TemplateView
from unfold.views import UnfoldSiteViewMixin

from opsadmin.operations.caches.inventory import cache_panels, session_storage
from opsadmin.operations.database.analysis import analyze_database
from opsadmin.operations.health import health_status


class HealthPage(UnfoldSiteViewMixin, TemplateView):
    """Every readiness check with its status, message and time, as load balancers see them."""

    title = "Health"
    permission_required = ("opsadmin.view_ops",)
    template_name = "opsadmin/health.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(health=health_status(), **kwargs)


class DatabasePage(UnfoldSiteViewMixin, TemplateView):
    """Indexes and tables as PgHero shows them, with the writes one click away."""

    title = "Database"
    permission_required = ("opsadmin.view_ops",)
    template_name = "opsadmin/database.html"

    def get_context_data(self, **kwargs):
        analysis = analyze_database()
        declared = set(analysis.declared)
        duplicates = {row.name: row.covered_by for row in analysis.duplicate_indexes or ()}
        unused = {row.name for row in analysis.unused_indexes or ()}
        indexes = [
            {
                "row": row,
                "declared": row.name in declared,
                "duplicate_of": duplicates.get(row.name),
                "unused": row.name in unused,
            }
            for row in analysis.indexes
        ]
        return super().get_context_data(analysis=analysis, index_entries=indexes, **kwargs)


class CachesPage(UnfoldSiteViewMixin, TemplateView):
    """One panel per cache alias: what it holds and how it is doing, with clear and flush one click away."""

    title = "Caches"
    permission_required = ("opsadmin.view_ops",)
    template_name = "opsadmin/caches.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(panels=cache_panels(), sessions=session_storage(), **kwargs)
