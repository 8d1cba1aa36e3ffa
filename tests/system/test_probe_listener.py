"""The probes' own listener under the production gunicorn configuration: while every request thread waits
on a database that never answers, /health/live/ and /health/ready/ still answer there within a second."""

import contextlib
import json
import threading
import time

import pytest

from tests.services import http, portal_gunicorn
from tests.system.conftest import server_environment

pytestmark = pytest.mark.sqlite  # its database is a hanging listener: runs once, in the SQLite pass

BOUND = 1.0


def test_probes_answer_on_their_listener_while_every_request_thread_is_stuck(hanging):
    environment = server_environment(DATABASE_URL=f"postgres://portal@127.0.0.1:{hanging.port}/portal")
    with portal_gunicorn(environment, workers=1, threads=2) as (_, port, probe_port):
        stuck = [threading.Thread(target=_admin_page, args=(port,), daemon=True) for _ in range(6)]
        for thread in stuck:
            thread.start()
        _wait_for(lambda: len(hanging.accepted) >= 2)  # both request threads are waiting on the database

        status, body, seconds = http(probe_port, "/health/live/", timeout=5)
        assert (status, body) == (200, b'{"status": "ok"}')
        assert seconds < BOUND
        status, body, seconds = http(probe_port, "/health/ready/", timeout=5)
        assert status == 503
        assert "database" in json.loads(body)["failing"]
        assert seconds < BOUND

        with pytest.raises(TimeoutError):  # the same probe on the request listener waits behind the stuck requests
            http(port, "/health/live/", timeout=BOUND)


def test_the_probe_listener_serves_nothing_else(migrated_database, tmp_path):
    database = tmp_path / "portal.sqlite3"
    database.write_bytes(migrated_database.read_bytes())
    with portal_gunicorn(server_environment(DATABASE_URL=f"sqlite:///{database}"), workers=1) as (_, port, probe_port):
        status, body, _ = http(probe_port, "/admin/login/")
        assert status == 404
        assert json.loads(body) == {"error": "not found: this port answers /health/live/ and /health/ready/ only"}
        assert http(probe_port, "/health/ready/")[0] == 200
        assert http(port, "/admin/login/")[0] == 200


def _admin_page(port):
    """A staff page: its session is read from the database."""
    with contextlib.suppress(OSError):
        http(port, "/admin/", headers={"Cookie": "sessionid=" + "a" * 32}, timeout=30)


def _wait_for(condition, timeout=10):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the requests never reached the database"
        time.sleep(0.05)
