"""The memory writes with real processes: gunicorn with three workers; "Collect garbage now" sent to one pid
reaches exactly that worker, and a recycled worker answers, exits, and gunicorn starts a fresh one.

Sent from the command line, a process of its own, as an operator would send them.
"""

import json
import os
import shutil
import sqlite3
import time

import pytest

from tests.services import gunicorn, http
from tests.system.conftest import manage, server_environment

pytestmark = pytest.mark.sqlite

WORKERS = 3


def web_workers(database):
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT instance_id, pid FROM opsadmin_instanceworker WHERE kind = 'web'")
        return sorted(rows.fetchall(), key=lambda row: row[1])


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def fleet(tmp_path, migrated_database):
    """(database, environment) of a portal under gunicorn with three workers, each of which has beaten."""
    database = tmp_path / "portal.sqlite3"
    shutil.copyfile(migrated_database, database)
    environment = server_environment(
        DATABASE_URL=f"sqlite:///{database}",
        DJANGO_SETTINGS_MODULE="tests.system.channel_settings",
        PORTAL_COMMAND_POLL_SECONDS="0.2",
        PORTAL_COMMAND_TIMEOUT_SECONDS="10",
    )
    with gunicorn(environment, workers=WORKERS, threads=2) as port:
        deadline = time.monotonic() + 30
        while len(web_workers(database)) < WORKERS:  # the kernel hands each new connection to some worker
            assert time.monotonic() < deadline, f"only {len(web_workers(database))} workers beat within 30 s"
            http(port, "/health/ready/")
        yield port, database, environment


def test_collect_garbage_sent_to_one_pid_reaches_exactly_that_worker(fleet):
    _, database, environment = fleet
    instance, pid = web_workers(database)[1]
    sent = manage(
        "ops", "run", "collect_garbage", "--set", f"processes={instance} pid {pid}", "--json", environment=environment
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    run = json.loads(sent.stdout)
    assert run["status"] == "succeeded"
    assert [(answer["process"], answer["status"]) for answer in run["processes"]] == [
        (f"{instance} pid {pid}", "succeeded")
    ]
    with sqlite3.connect(database) as connection:
        (result,) = connection.execute("SELECT result FROM opsadmin_runtarget WHERE run_id = ?", [run["id"]]).fetchone()
    answer = json.loads(result)
    assert answer["process"] == f"{instance} pid {pid}"  # answered by that worker itself
    assert answer["collection"]["rss_before_bytes"] > 10 * 1024 * 1024


def test_a_recycled_worker_answers_exits_and_gunicorn_starts_a_fresh_one(fleet):
    port, database, environment = fleet
    instance, pid = web_workers(database)[0]
    sent = manage("ops", "run", "recycle_workers", "--set", f"processes={instance} pid {pid}", environment=environment)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "1 of 1 process done: recycling at" in sent.stdout
    deadline = time.monotonic() + 30
    while alive(pid) or len(web_workers(database)) <= WORKERS:  # it left; its replacement beats on a request
        assert time.monotonic() < deadline, "the recycled worker did not exit, or no fresh one beat"
        http(port, "/health/ready/")
        time.sleep(0.1)

    # Every web worker the fleet lists: the fresh ones, and the recycled one until PORTAL_INSTANCE_GONE_SECONDS pass.
    every = [f"{instance} pid {worker}" for _, worker in web_workers(database)]
    refused = manage("ops", "run", "recycle_workers", *(f"--set=processes={p}" for p in every), environment=environment)
    assert refused.returncode == 2
    assert "every web worker of" in refused.stderr
