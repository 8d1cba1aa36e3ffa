"""The task worker through a PostgreSQL restart: `manage.py ops_worker` as a process of its own waits
for the database with growing pauses, a line each, and performs work queued once it is back.

The worker runs against a throwaway PostgreSQL of this test's own, stopped (fast: its connections
are cut) and started again on the same data and port, as a database restart would.
"""

import json
import re
import subprocess
import sys
import time
from contextlib import closing
from datetime import UTC, datetime

import psycopg2
import pytest

from tests.services import REPO, postgres_unavailable, skip_or_fail, stop_process, throwaway_postgres
from tests.system.conftest import manage, server_environment

pytestmark = pytest.mark.sqlite  # runs once, in the SQLite pass: it brings its own PostgreSQL

RUN_DEADLINE = 60  # seconds for a run queued after the restart to succeed (pauses: 2, 4 s or the breaker's 10 s)


def query(url, sql):
    with closing(psycopg2.connect(url, connect_timeout=5)) as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def wait_for(condition, what, process, log, timeout=30):
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the worker exited with {process.returncode}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"{what} not within {timeout} s:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)


def task_worker_seen(url):
    return query(url, "SELECT max(last_seen_at) FROM opsadmin_instanceworker WHERE kind = 'task'")[0][0]


def started(url, log):
    """The worker has beaten and entered its loop, so it holds a connection the restart will cut."""
    return "Starting worker" in log.read_text() and task_worker_seen(url) is not None


def last_run(url):
    """(id, status) of the newest OpsRun."""
    return query(url, "SELECT id, status FROM opsadmin_opsrun ORDER BY id DESC LIMIT 1")[0]


@pytest.fixture
def postgres():
    """A migrated throwaway PostgreSQL: its URL, which can also stop and start the server."""
    reason = postgres_unavailable()
    if reason:
        skip_or_fail(reason)
    with throwaway_postgres() as url:
        migrated = manage("migrate", "--no-input", environment=server_environment(DATABASE_URL=url), timeout=300)
        assert migrated.returncode == 0, migrated.stderr
        yield url


def test_the_worker_waits_out_a_database_restart_and_performs_work_queued_after_it(postgres, tmp_path):
    environment = server_environment(DATABASE_URL=postgres, PYTHONUNBUFFERED="1")
    log = tmp_path / "worker.log"
    command = [sys.executable, "manage.py", "ops_worker", "--no-reload", "--no-startup-delay"]
    with open(log, "wb") as output:
        worker = subprocess.Popen(command, cwd=REPO, env=environment, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: started(postgres, log), "the worker's first beat and poll", worker, log)

        postgres.stop()
        wait_for(lambda: log.read_text().count("Database unavailable (") >= 2, "a second attempt", worker, log)
        postgres.start()
        back = datetime.now(UTC)

        queued = manage("optimize_database", "--dry-run", "--enqueue", environment=environment)
        assert queued.returncode == 0, queued.stdout + queued.stderr
        run_id, _ = last_run(postgres)
        wait_for(lambda: last_run(postgres) == (run_id, "succeeded"), "the run", worker, log, timeout=RUN_DEADLINE)
        wait_for(lambda: task_worker_seen(postgres) > back, "a beat after the restart", worker, log)
        assert worker.poll() is None
    finally:
        stop_process(worker)

    output = log.read_text()
    assert "Database unavailable (" in output
    pauses = [int(seconds) for seconds in re.findall(r"next attempt in (\d+) s", output)]
    assert pauses
    assert all(1 <= pause <= 30 for pause in pauses), pauses  # 1 s first, unless the breaker opened first
    assert "Database available again; taking tasks" in output
    assert "db_worker.py" not in output  # no traceback from the worker's loop
    messages = [json.loads(line)["message"] for line in output.splitlines() if line.startswith("{")]
    throttled = [message for message in messages if "(logged once a minute)" in message]
    sources = [message.partition("database unavailable")[0] for message in throttled]
    assert len(sources) == len(set(sources)), throttled  # each thread's failure once, not once per attempt
