from importlib import import_module

from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class PortalAdminConfig(AdminConfig):
    """Django's admin, with the ops site installed as the default `admin.site`."""

    default_site = "opsadmin.admin.site.OpsAdminSite"


class OpsAdminConfig(AppConfig):
    name = "opsadmin"
    label = "opsadmin"
    verbose_name = "Ops"

    # Modules that register admin classes or declare operations when imported.
    registering_modules = (
        "opsadmin.admin.audit",
        "opsadmin.admin.tokens",
        "opsadmin.admin.users",
        "opsadmin.admin.instances",
        "opsadmin.operations.instances",
        "opsadmin.operations.database.writes",
        "opsadmin.operations.caches.writes",
    )

    def ready(self):
        for module in self.registering_modules:
            import_module(module)
