"""Root test configuration.

The database and cache are chosen by the environment before this file is read (see
tests/matrix.py). Here we only adapt to that choice: tests marked `postgres`, `redis` or
`sqlite` run only where their backend is the default, and skip elsewhere with the way
to run them (in CI, a postgres/redis test that can't run fails instead). Tests marked
`posix`, and the system tests (gunicorn, HAProxy, signals), skip where POSIX isn't. Through PgBouncer
(DATABASE_DIRECT_URL set: tests/system/test_pgbouncer.py) database tests may use the `direct` alias too.
"""

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.test import override_settings

from tests.services import HangingServer, in_ci, redis_unavailable, skip_or_fail, throwaway_redis

POSTGRES_REASON = "needs PostgreSQL: run `make test` or set DATABASE_URL"
REDIS_REASON = "needs Redis: run `make test` or set REDIS_URL"
SQLITE_REASON = "checks the embedded SQLite default: runs in the SQLite pass of `make test`"
POSIX_REASON = "uses what POSIX alone has (fork, signals, fcntl, gunicorn): runs on Linux and macOS"
SYSTEM_TESTS = Path(__file__).resolve().parent / "system"


def pytest_configure(config):
    # Without DEBUG the settings use whitenoise's manifest storage, which needs collectstatic first.
    plain_static = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    # Second factors are required wherever DEBUG is off, so here too: the tests that are not about them log in
    # with a password alone, as on a laptop (tests/portal/test_second_factor.py and the e2e test turn it on).
    override_settings(STORAGES={**settings.STORAGES, "staticfiles": plain_static}, PORTAL_OTP_REQUIRED=False).enable()


def pytest_collection_modifyitems(config, items):
    """Skip tests whose backend isn't the default here, or that need POSIX elsewhere; in CI, postgres/redis ones
    fail instead (below)."""
    for item in items:
        allow_direct_alias(item)
        reason = missing_backend(item)
        if reason == SQLITE_REASON or (reason and not in_ci()):
            item.add_marker(pytest.mark.skip(reason=reason))
        elif os.name != "posix" and needs_posix(item):
            item.add_marker(pytest.mark.skip(reason=POSIX_REASON))


def allow_direct_alias(item):
    """With DATABASE_DIRECT_URL set (a run through PgBouncer), a database test may also use the `direct` alias:
    the code under test opens its session work there. It mirrors `default`'s test database."""
    marker = item.get_closest_marker("django_db")
    if marker is None and {"db", "transactional_db"} & set(getattr(item, "fixturenames", ())):
        marker = pytest.mark.django_db.mark  # the `db` fixture alone: the marker's defaults
    if marker is None or "direct" not in settings.DATABASES or marker.kwargs.get("databases") == "__all__":
        return
    databases = {*(marker.kwargs.get("databases") or ["default"]), "direct"}
    item.add_marker(pytest.mark.django_db(*marker.args, **{**marker.kwargs, "databases": sorted(databases)}), False)


def needs_posix(item):
    return bool(item.get_closest_marker("posix")) or SYSTEM_TESTS in item.path.parents


def pytest_runtest_setup(item):
    """Only selected, unskipped tests get here: in CI, those that need a missing server fail."""
    reason = missing_backend(item)
    if reason:
        pytest.fail(f"{reason} (CI=true: missing services fail the run)", pytrace=False)


def missing_backend(item):
    """Why `item` can't run on this run's database and cache, or None."""
    if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
        return POSTGRES_REASON
    if item.get_closest_marker("redis") and "redis" not in settings.CACHES["default"]["BACKEND"].lower():
        return REDIS_REASON
    if item.get_closest_marker("sqlite") and connection.vendor != "sqlite":
        return SQLITE_REASON
    return None


@pytest.fixture(autouse=True)
def _clear_caches():
    """Every test starts with empty caches: Redis keeps rate-limit counters across tests and runs."""
    for cache in caches.all():
        cache.clear()


@pytest.fixture(autouse=True)
def _fresh_process_state():
    """Every test starts like a new process: not shutting down, no instance yet, no cached drain state or
    readiness verdict, every circuit breaker closed (their state in Redis went with the cache database, emptied
    above), no rate-limit counter in memory (those in Redis went too), no connection kept by a long-lived thread
    (the test database can't be dropped while one is open)."""
    from opsadmin.health.readiness import readiness
    from opsadmin.runtime import breakers, drain, heartbeat, identity, thread_connections
    from portal import shutting_down
    from stocks import rate_limits

    def forget():
        shutting_down.reset()
        identity.reset()
        heartbeat.reset()
        drain.reset()
        readiness.reset()
        breakers.reset()
        rate_limits.forget()
        thread_connections.close_kept()

    forget()
    yield
    forget()


@pytest.fixture
def ops_groups(transactional_db):
    """The two ops groups, as the data migration and the capabilities' declared permissions make them.

    Transactional tests flush the database after each, which drops the migration's rows
    (permissions come back, groups don't): recreate them.
    """
    from importlib import import_module

    from django.contrib.auth.models import Group, Permission

    from opsadmin.spine.permissions import create_declared_permissions

    groups = import_module("opsadmin.migrations.0002_ops_groups").GROUPS
    for name, codenames in groups.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(Permission.objects.filter(content_type__app_label="opsadmin", codename__in=codenames))
    create_declared_permissions()  # and the capabilities' own, as after every migrate (opsadmin.spine.permissions)


@pytest.fixture(scope="module")
def redis_url():
    """A throwaway Redis of the module's own (skipped without redis-server; a failure with CI=true)."""
    if reason := redis_unavailable():
        skip_or_fail(reason)
    with throwaway_redis() as url:
        yield url


@pytest.fixture
def hanging():
    """A listener that accepts connections and never answers: a hung PostgreSQL or Redis."""
    server = HangingServer()
    yield server
    server.close()
