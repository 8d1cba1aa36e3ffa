"""What every PostgreSQL benchmark needs first: Django set up on a migrated PostgreSQL database.

With DATABASE_URL set, that database is used (benchmarks may replace its data); without
it, a throwaway server from tests/services.py is started and removed afterwards.
"""

import contextlib
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


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
