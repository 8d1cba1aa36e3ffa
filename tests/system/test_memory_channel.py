"""The memory writes with real processes: gunicorn with three workers; "Collect garbage now" sent to one pid
reaches exactly that worker, and a recycled worker answers, exits, and gunicorn starts a fresh one.

Sent from the command line, a process of its own, as an operator would send them.
"""

import json
import os
import sqlite3
import time

import pytest

from tests.services import http
from tests.system.conftest import FLEET_WORKERS as WORKERS
from tests.system.conftest import manage, served_fleet, web_workers

pytestmark = pytest.mark.sqlite


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def fleet(tmp_path, migrated_database):
    with served_fleet(tmp_path, migrated_database, command_timeout=10) as served:
        yield served


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
