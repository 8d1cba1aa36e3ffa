"""The preloading master warms up before it forks: it serves the everyday pages once and never beats as a
worker; the workers it forks beat before any request, and answer readiness with pools of their own."""

import sqlite3
import time

import psutil
import pytest

from portal.warm_up import EVERYDAY_PAGES
from tests.services import http, portal_gunicorn
from tests.system.conftest import manage, server_environment, web_workers

pytestmark = pytest.mark.sqlite  # its own SQLite file: runs once, in the SQLite pass


def test_the_master_warms_up_and_leaves_the_serving_to_its_workers(migrated_database, tmp_path):
    database = tmp_path / "portal.sqlite3"
    database.write_bytes(migrated_database.read_bytes())
    environment = server_environment(DATABASE_URL=f"sqlite:///{database}", STATIC_ROOT=str(tmp_path / "static"))
    collected = manage("collectstatic", "--no-input", environment=environment, timeout=300)
    assert collected.returncode == 0, collected.stderr
    log = tmp_path / "gunicorn.log"
    with portal_gunicorn(environment, workers=2, log=log) as (master, _port, probe_port):
        workers = sorted(child.pid for child in psutil.Process(master.pid).children())
        deadline = time.monotonic() + 15
        while len(web_workers(database)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)  # no request but the start-up's liveness probe: each worker beats once it is up
        beating = [pid for _, pid in web_workers(database)]
        answers = []
        for _ in range(6):  # readiness is not cached here: every probe runs the checks in the worker's pool
            answers.append(http(probe_port, "/health/ready/")[0])
            time.sleep(0.3)

    text = log.read_text()
    assert f"warm-up: {len(EVERYDAY_PAGES)} pages served" in text, text[-3000:]
    assert answers == [200] * 6
    assert master.pid not in beating
    assert sorted(beating) == workers
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM opsadmin_memorysample WHERE pid = ?", (master.pid,)).fetchone() == (0,)
    assert "Traceback" not in text
