"""Real servers for the system tests: a portal environment of its own, `manage.py` in a subprocess, and a
migrated SQLite file to copy from, so these tests don't depend on the pass's database (they run once,
in the SQLite pass)."""

import os
import subprocess
import sys

import pytest

from tests.services import REPO


def server_environment(**extra):
    """The environment of a served portal: no server of the test pass's, readiness not cached, and `extra`."""
    environment = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    environment.update(SECRET_KEY="system-tests", PORTAL_READINESS_CACHE_SECONDS="0", **extra)
    return environment


def manage(*args, environment, timeout=60):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory):
    """A migrated SQLite file to copy from."""
    path = tmp_path_factory.mktemp("system-db") / "migrated.sqlite3"
    result = manage("migrate", "--no-input", environment=server_environment(DATABASE_URL=f"sqlite:///{path}"))
    assert result.returncode == 0, result.stderr
    return path
