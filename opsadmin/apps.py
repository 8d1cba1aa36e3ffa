from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class PortalAdminConfig(AdminConfig):
    """Django's admin, with the ops site installed as the default `admin.site`."""

    default_site = "opsadmin.admin.site.OpsAdminSite"


class OpsAdminConfig(AppConfig):
    name = "opsadmin"
    label = "opsadmin"
    verbose_name = "Ops"
