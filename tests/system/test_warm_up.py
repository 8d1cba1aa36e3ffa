"""The preloading master warms up before it forks: it serves the everyday pages once and never beats as a
worker; the workers it forks beat before any request, and answer readiness with pools of their own."""

import socket
import sqlite3
import time
from contextlib import closing

import psutil
import psycopg2
import pytest

from portal.warm_up import EVERYDAY_PAGES
from tests.services import http, portal_gunicorn, postgres_unavailable, skip_or_fail, throwaway_postgres
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


def test_the_master_keeps_no_postgresql_session_past_the_fork(tmp_path):
    """The warm-up's readiness page opens the check threads' kept connections in the master: they are closed
    before the first fork, so the master holds none and no worker inherits one, and every session of the
    instance is named with its listener (a master's would lack it)."""
    reason = postgres_unavailable()
    if reason:
        skip_or_fail(reason)
    with throwaway_postgres() as url:
        environment = server_environment(DATABASE_URL=url, STATIC_ROOT=str(tmp_path / "static"))
        for command in (("migrate", "--no-input"), ("collectstatic", "--no-input")):
            done = manage(*command, environment=environment, timeout=300)
            assert done.returncode == 0, done.stderr
        log = tmp_path / "gunicorn.log"
        with portal_gunicorn(environment, workers=2, log=log) as (master, port, probe_port):
            for _ in range(4):
                assert http(probe_port, "/health/ready/")[0] == 200
            sessions = portal_sessions(url)
            master_ports = {c.laddr.port for c in psutil.Process(master.pid).net_connections("tcp") if c.raddr}
    assert f"warm-up: {len(EVERYDAY_PAGES)} pages served" in log.read_text()
    assert not [name for name, client_port in sessions if client_port in master_ports]
    assert sessions
    assert {name.split(" ")[1] for name, _ in sessions} == {f"{socket.gethostname()}:{port}"}


def portal_sessions(url):
    """(application_name, client port) of the portal's sessions on `url`."""
    with closing(psycopg2.connect(url, connect_timeout=5)) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT application_name, client_port FROM pg_stat_activity"
            " WHERE starts_with(application_name, 'stockscanner-portal ')"
        )
        return cursor.fetchall()
