"""The portal's admin site: unfold's site, installed as Django's default admin site.

Its own URLs: a page per capability that declares one (`ops/<capability>/`, named
`ops_<capability>`), the page of any declared write (`ops/run/<write>/`), and the second-factor
pages (`second-factor/` to enrol, `second-factor/verify/` after the password).
"""

from django.urls import path
from unfold.sites import UnfoldAdminSite


class OpsAdminSite(UnfoldAdminSite):
    site_header = "Stockscanner ops"
    site_title = "Stockscanner ops"
    index_title = "Dashboard"

    def get_urls(self):
        from opsadmin.admin.operation_page import OperationPage
        from opsadmin.admin.pages import CapabilityPage
        from opsadmin.admin.second_factor import ManageSecondFactor, VerifySecondFactor
        from opsadmin.spine import registry

        pages = [
            path(
                f"ops/{capability.name}/",
                self.admin_view(CapabilityPage.as_view(admin_site=self, capability=capability)),
                name=f"ops_{capability.name}",
            )
            for capability in registry.capabilities()
            if capability.page
        ]
        pages.append(
            path(
                "ops/run/<slug:operation_name>/",
                self.admin_view(OperationPage.as_view(admin_site=self)),
                name="ops_operation",
            )
        )
        pages += [
            path("second-factor/", self.admin_view(ManageSecondFactor.as_view(admin_site=self)), name="second_factor"),
            path(
                "second-factor/verify/",
                self.admin_view(VerifySecondFactor.as_view(admin_site=self)),
                name="second_factor_verify",
            ),
        ]
        return pages + super().get_urls()
