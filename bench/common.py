"""What benchmarks need first: Django set up on a migrated PostgreSQL database, or with its caches on Redis.

With DATABASE_URL set, that database is used (benchmarks may replace its data); without
it, a throwaway server from tests/services.py is started and removed afterwards. Redis
benchmarks always get a throwaway Redis: they fill it with millions of keys and flush it.
"""

import contextlib
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH_SECRET_KEY = "bench-only-key-" + "never-used-outside-the-benchmarks-" * 2
os.environ.setdefault("SECRET_KEY", BENCH_SECRET_KEY)  # the settings need one with DEBUG off, as benchmarks run


@contextlib.contextmanager
def django_on_postgres():
    """Set up Django on PostgreSQL and migrate; yields the connection. Exits with a message otherwise."""
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    with contextlib.ExitStack() as stack:
        if not os.environ.get("DATABASE_URL"):
            from tests.services import postgres_unavailable, throwaway_postgres

            if reason := postgres_unavailable():
                sys.exit(f"Set DATABASE_URL to a PostgreSQL database: {reason}")
            print("DATABASE_URL not set: starting a throwaway PostgreSQL", flush=True)
            os.environ["DATABASE_URL"] = stack.enter_context(throwaway_postgres())
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        if connection.vendor != "postgresql":
            sys.exit(f"This benchmark needs PostgreSQL; DATABASE_URL points at {connection.vendor}.")
        call_command("migrate", verbosity=0)
        yield connection


@contextlib.contextmanager
def django_with_redis():
    """Set up Django with its cache aliases on a throwaway Redis (REDIS_URL is ignored); yields its URL."""
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from tests.services import redis_unavailable, throwaway_redis

    if reason := redis_unavailable():
        sys.exit(f"This benchmark starts its own Redis: {reason}")
    with throwaway_redis() as url:
        print(f"Throwaway Redis at {url}", flush=True)
        os.environ["REDIS_URL"] = url  # read by portal/settings.py when django.setup() imports it
        import django

        django.setup()
        yield url


@contextlib.contextmanager
def portal_on_throwaway_servers(prefix, *, log_connections=False):
    """(root, postgres, redis, environment, credentials) for benchmarks that serve the portal themselves: a
    throwaway PostgreSQL and Redis, the portal migrated with its static files, an operator's session and token
    (tests/system/traffic.py), and a scratch folder. Exits with a message when a server can't be started.
    `log_connections`: PostgreSQL logs every connection made (postgres.log), as tests/services.py says."""
    sys.path.insert(0, str(REPO))
    from tests.services import postgres_unavailable, redis_unavailable, throwaway_postgres, throwaway_redis
    from tests.system.traffic import prepare

    for reason in (postgres_unavailable(), redis_unavailable()):
        if reason:
            sys.exit(reason)
    with (
        tempfile.TemporaryDirectory(prefix=prefix) as temp,
        throwaway_postgres(log_connections=log_connections) as postgres,
        throwaway_redis() as redis,
    ):
        root = Path(temp)
        environment, credentials = prepare(root, postgres, redis)
        yield root, postgres, redis, environment, credentials
