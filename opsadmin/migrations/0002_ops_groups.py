"""The two ops groups: "Ops viewers" (read) and "Ops operators" (every ops operation)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEWER_CODENAMES = ["view_ops", "view_opsrun"]
OPERATOR_CODENAMES = [
    *VIEWER_CODENAMES,
    "run_index_optimization",
    "clear_cache",
    "reset_breaker",
    "manage_memory",
    "drain_instance",
]
GROUPS = {"Ops viewers": VIEWER_CODENAMES, "Ops operators": OPERATOR_CODENAMES}


def create_groups(apps, schema_editor):
    # Permissions are normally created after migrate finishes; the groups need them now.
    app_config = apps.get_app_config("opsadmin")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _ = Group.objects.using(schema_editor.connection.alias).get_or_create(name=name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="opsadmin", codename__in=codenames))


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("opsadmin", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
