"""Whose each table is: the project's own apps, or a third-party app whose models nobody here changes.

An app is the project's when its code lives in the project's directory (settings.BASE_DIR)
rather than in an installed package (site-packages): stocks, opsadmin, portal.accounts
here; django.contrib.auth, django_tasks_db and the like are third-party. Their tables are
listed like any other but never advised on: an index Django puts on its auth join tables
is not ours to drop, nor theirs to declare. A table no model claims (made by hand, or
left by a removed app) counts as the project's: someone here made it.
"""

from dataclasses import dataclass
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db.migrations.recorder import MigrationRecorder

INSTALLED_PACKAGE_DIRS = {"site-packages", "dist-packages"}


@dataclass(frozen=True)
class Owner:
    app: str  # the app label ("auth", "stocks"); "" when no model claims the table
    third_party: bool


NO_MODEL = Owner(app="", third_party=False)


def table_owners():
    """{table: Owner} for every table a model of an installed app claims (auto-created join tables too)."""
    project = Path(settings.BASE_DIR).resolve()
    owners = {}
    for config in apps.get_app_configs():
        owner = Owner(config.label, third_party=not _in_project(Path(config.path), project))
        for model in config.get_models(include_auto_created=True):
            owners.setdefault(model._meta.db_table, owner)
    # django_migrations: Django's own, kept by a model no app registers.
    owners.setdefault(MigrationRecorder.Migration._meta.db_table, Owner("migrations", third_party=True))
    return owners


def owner_of(table, owners):
    return owners.get(table, NO_MODEL)


def project_first(table, owners):
    """A sort key: the project's apps' tables, then those no model claims, then third-party ones; each by name."""
    owner = owner_of(table, owners)
    return (owner.third_party, not owner.app, table)


def _in_project(path, project):
    return path.is_relative_to(project) and not INSTALLED_PACKAGE_DIRS & set(path.parts)
