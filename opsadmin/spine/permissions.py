"""The ops permissions capabilities declare: created after every migrate, given to their groups; who holds a write's.

The six every portal has live on OpsRun's Meta (and its migrations); a capability that needs
its own (a read stricter than view_ops, say) declares it, and this makes it exist on the same
content type, so `opsadmin.<codename>` works like the others.
"""

from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import DEFAULT_DB_ALIAS

from opsadmin.models import OpsRun
from opsadmin.spine import registry


def create_declared_permissions(using=DEFAULT_DB_ALIAS, **kwargs):
    """post_migrate: each declared permission exists and belongs to its groups (made if missing)."""
    for declared in registry.permissions():
        model = apps.get_model(declared.model) if declared.model else OpsRun
        content_type = ContentType.objects.db_manager(using).get_for_model(model)
        permission, _ = Permission.objects.using(using).get_or_create(
            content_type=content_type, codename=declared.codename, defaults={"name": declared.name}
        )
        for name in declared.groups:
            Group.objects.using(using).get_or_create(name=name)[0].permissions.add(permission)


def holds_write_permission(user):
    """Whether `user` may run any declared write (a superuser may run them all): who must give a second factor.

    Asked of the registry, so a capability's new write counts without anyone listing it here.
    """
    if not (user.is_active and user.is_authenticated):
        return False
    return user.is_superuser or any(user.has_perm(write.permission_name) for write in registry.writes())
