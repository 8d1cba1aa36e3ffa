"""Real servers for the system tests: a portal environment of its own, `manage.py` in a subprocess, and a
migrated SQLite file to copy from, so these tests don't depend on the pass's database (they run once,
in the SQLite pass)."""

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import time

import pytest

from tests.services import REPO, gunicorn, http

FLEET_WORKERS = 3
REPORTED = []  # (test, line): what the system tests measured, shown in the run's summary


@pytest.fixture
def report(request):
    """`report(line)`: a figure the test measured (requests sent, failed, the longest), printed in the run's summary
    under "system test figures", so a passing CI run shows it too (pytest keeps a passing test's output to itself)."""

    def say(line):
        print(line)
        REPORTED.append((request.node.name, line.strip()))

    return say


def pytest_terminal_summary(terminalreporter):
    if REPORTED:
        terminalreporter.section("system test figures")
        for test, line in REPORTED:
            terminalreporter.write_line(f"{test}: {line}")


def server_environment(**extra):
    """The environment of a served portal: no server of the test pass's, readiness not cached (unless `extra`
    says otherwise), and `extra`."""
    environment = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    environment.update({"SECRET_KEY": "system-tests", "PORTAL_READINESS_CACHE_SECONDS": "0", **extra})
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


def web_workers(database):
    """(instance, pid) of every web worker that has beaten into the SQLite `database`, by pid."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT instance_id, pid FROM opsadmin_instanceworker WHERE kind = 'web'")
        return sorted(rows.fetchall(), key=lambda row: row[1])


@contextlib.contextmanager
def served_fleet(tmp_path, migrated_database, *, command_timeout):
    """(port, database, environment) of a portal under gunicorn with three workers, each of which has beaten,
    taking work over the command channel every 0.2 s and giving up on a process after `command_timeout` s."""
    database = tmp_path / "portal.sqlite3"
    shutil.copyfile(migrated_database, database)
    environment = server_environment(
        DATABASE_URL=f"sqlite:///{database}",
        DJANGO_SETTINGS_MODULE="tests.system.channel_settings",
        PORTAL_COMMAND_POLL_SECONDS="0.2",
        PORTAL_COMMAND_TIMEOUT_SECONDS=str(command_timeout),
    )
    with gunicorn(environment, workers=FLEET_WORKERS, threads=2) as port:
        deadline = time.monotonic() + 30
        while len(web_workers(database)) < FLEET_WORKERS:  # the kernel hands each new connection to some worker
            assert time.monotonic() < deadline, f"only {len(web_workers(database))} workers beat within 30 s"
            http(port, "/health/ready/")
        yield port, database, environment
