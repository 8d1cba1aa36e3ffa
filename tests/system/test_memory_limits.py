"""Memory limits under the production gunicorn configuration: with a hard limit every worker is above,
each worker exits gracefully after its sampled request and gunicorn starts a fresh one, while a client
stream sees every request answered; each worker's figures reach its heartbeat row and the history, and
its row leaves as it exits."""

import json
import sqlite3
import threading
import time

import psutil
import pytest

from tests.services import http, portal_gunicorn
from tests.system.conftest import manage, server_environment, web_workers
from tests.system.traffic import API, CREDENTIALS

pytestmark = pytest.mark.sqlite  # its own SQLite file: runs once, in the SQLite pass

CLIENTS, REQUESTS_EACH = 4, 60
SAMPLE_EVERY = 10


def test_the_hard_limit_recycles_workers_without_failing_a_request(migrated_database, tmp_path):
    database = tmp_path / "portal.sqlite3"
    database.write_bytes(migrated_database.read_bytes())
    environment = server_environment(
        DATABASE_URL=f"sqlite:///{database}",
        PORTAL_MEMORY_HARD_LIMIT="1MB",  # every worker is above it
        PORTAL_MEMORY_SAMPLE_EVERY=str(SAMPLE_EVERY),
        PORTAL_WARM_UP_PATHS=",".join(API),  # no static files collected here: the master warms the API only
    )
    made = manage("shell", "-c", CREDENTIALS, environment=environment)
    assert made.returncode == 0, made.stderr
    token = json.loads(made.stdout.strip().splitlines()[-1])["token"]
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    log = tmp_path / "gunicorn.log"
    with portal_gunicorn(environment, workers=2, log=log) as (master, port, _):
        first_workers = workers_of(master)
        answers, seen_workers = [], set()

        def client():
            for number in range(REQUESTS_EACH):
                status, _, _ = http(port, API[number % len(API)], headers=headers, timeout=15)
                answers.append(status)
                seen_workers.update(workers_of(master))

        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        wait_for(lambda: len(workers_of(master)) == 2)
        last_workers = workers_of(master)

        def only_live_workers_listed():
            """A recycled worker removes its row as it exits; a live one that is asked beats, with its figures."""
            http(port, API[0], headers=headers)
            listed = {pid for _, pid in web_workers(database)}
            return listed and listed <= set(workers_of(master))

        wait_for(only_live_workers_listed)
        with sqlite3.connect(database) as db:
            figures = [json.loads(row[0]) for row in db.execute("SELECT figures FROM opsadmin_instanceworker")]
            samples = db.execute("SELECT count(*) FROM opsadmin_memorysample").fetchone()[0]
    assert web_workers(database) == []  # and so does every worker when the server stops

    assert answers == [200] * CLIENTS * REQUESTS_EACH
    assert not set(last_workers) & set(first_workers)
    assert len(seen_workers) >= CLIENTS * REQUESTS_EACH // SAMPLE_EVERY // 2  # most samples recycled a worker
    text = log.read_text()
    exits = text.count("above the hard limit 1048576 after")
    assert exits >= len(seen_workers) - 2 - 1, text[-3000:]  # all but the live ones (one may still be exiting)
    assert "exiting gracefully" in text
    assert "Worker exiting" in text
    assert "WORKER TIMEOUT" not in text
    assert "Traceback" not in text

    assert figures
    assert all(f["rss_bytes"] > 0 and f["limits"]["hard_bytes"] == 1048576 for f in figures)
    assert all(f["gc"]["frozen"] > 0 for f in figures)  # the preloaded app was frozen before the fork
    assert samples >= len(figures)


def workers_of(master):
    return sorted(child.pid for child in psutil.Process(master.pid).children())


def wait_for(condition, timeout=15):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.1)
