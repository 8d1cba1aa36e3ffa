"""The portal's admin site: unfold's site, installed as Django's default admin site."""

from django.urls import path
from unfold.sites import UnfoldAdminSite


class OpsAdminSite(UnfoldAdminSite):
    site_header = "Stockscanner ops"
    site_title = "Stockscanner ops"
    index_title = "Dashboard"

    def get_urls(self):
        from opsadmin.admin.operation_page import OperationPage
        from opsadmin.admin.pages import CachesPage, DatabasePage, HealthPage

        pages = [
            path("ops/health/", self.admin_view(HealthPage.as_view(admin_site=self)), name="ops_health"),
            path("ops/database/", self.admin_view(DatabasePage.as_view(admin_site=self)), name="ops_database"),
            path("ops/caches/", self.admin_view(CachesPage.as_view(admin_site=self)), name="ops_caches"),
            path(
                "ops/run/<slug:operation_name>/",
                self.admin_view(OperationPage.as_view(admin_site=self)),
                name="ops_operation",
            ),
        ]
        return pages + super().get_urls()
