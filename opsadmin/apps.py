from importlib import import_module

from django.apps import AppConfig
from django.conf import settings
from django.contrib.admin.apps import AdminConfig
from django.db.models.signals import post_migrate


class PortalAdminConfig(AdminConfig):
    """Django's admin, with the ops site installed as the default `admin.site`."""

    default_site = "opsadmin.admin.site.OpsAdminSite"


class OpsAdminConfig(AppConfig):
    name = "opsadmin"
    label = "opsadmin"
    verbose_name = "Ops"

    # The ops site's own model admins. Registered from here, not from opsadmin.admin's
    # __init__: that package also holds the site class, which Django is still building then.
    admin_modules = (
        "opsadmin.admin.audit",
        "opsadmin.admin.tokens",
        "opsadmin.admin.users",
        "opsadmin.admin.instances",
        "opsadmin.admin.access",
    )

    def ready(self):
        from opsadmin.runtime import heartbeat
        from opsadmin.runtime.metrics import database
        from opsadmin.spine import channel, registry
        from opsadmin.spine.permissions import create_declared_permissions

        registry.load(settings.PORTAL_CAPABILITIES)
        database.install()  # every connection's statements are timed, for /metrics
        post_migrate.connect(create_declared_permissions, sender=self)
        if channel.tick not in heartbeat.ON_TICK:
            heartbeat.ON_TICK.append(channel.tick)  # every process thread answers the command channel
        import_module("opsadmin.health.checks")  # registers its system checks
        for module in self.admin_modules:
            import_module(module)
        # Last app to be ready, so every model admin is registered: add the capabilities' admin actions.
        import_module("opsadmin.admin.actions").attach_declared_actions()
