"""Health against real gunicorn processes: the `health_check` command on the named readiness
route, and the 1-second bound when PostgreSQL or Redis accepts connections and never answers.

Each server gets its own SQLite file (or a hanging listener as its database), so these
tests don't depend on the pass's database; they run once, in the SQLite pass.
"""

import json
import shutil
import socket

import pytest

from tests.services import free_port, gunicorn, http
from tests.system.conftest import manage, server_environment

pytestmark = pytest.mark.sqlite

BOUND = 1.5  # seconds: the 1 s contract, with a margin for a loaded machine


def health_check_command(port, environment):
    return manage("health_check", "health_ready", f"127.0.0.1:{port}", environment=environment, timeout=30)


def test_health_check_command_follows_readiness(tmp_path, migrated_database):
    database = tmp_path / "portal.sqlite3"
    environment = server_environment(DATABASE_URL=f"sqlite:///{database}")
    database.touch()  # empty: every migration pending
    with gunicorn(environment) as port:
        status, body, _ = http(port, "/health/ready/")
        assert status == 503
        assert "migrations" in json.loads(body)["failing"]
        unready = health_check_command(port, environment)
        assert unready.returncode != 0, unready.stdout

        shutil.copyfile(migrated_database, database)  # now migrated
        status, body, _ = http(port, "/health/ready/")
        assert status == 200, body
        ready = health_check_command(port, environment)
        assert ready.returncode == 0, ready.stderr
        assert ready.stdout.startswith("ok")


def test_hanging_postgresql_answers_503_within_a_second(hanging):
    environment = server_environment(DATABASE_URL=f"postgres://portal@127.0.0.1:{hanging.port}/portal")
    with gunicorn(environment) as port:
        for _ in range(3):
            status, body, seconds = http(port, "/health/ready/")
            assert seconds < BOUND
            assert status == 503
            assert {"database", "migrations"} <= set(json.loads(body)["failing"])
        assert hanging.accepted  # the checks really connected and got stuck
        status, body, seconds = http(port, "/health/live/")
        assert (status, body) == (200, b'{"status": "ok"}')
        assert seconds < 0.5
        assert health_check_command(port, environment).returncode != 0


def test_hanging_redis_degrades_within_a_second(hanging, migrated_database, tmp_path):
    database = tmp_path / "portal.sqlite3"
    shutil.copyfile(migrated_database, database)
    environment = server_environment(
        DATABASE_URL=f"sqlite:///{database}", REDIS_URL=f"redis://127.0.0.1:{hanging.port}/0"
    )
    with gunicorn(environment) as port:
        for _ in range(3):
            status, body, seconds = http(port, "/health/ready/")
            assert seconds < BOUND
            answer = json.loads(body)
            assert (status, answer["status"]) == (200, "degraded")
            # The cache breaker trips on the caches' failures, and then degrades readiness too.
            assert set(answer["degraded"]) - {"breaker:cache"} == {"cache:default", "cache:ratelimit", "redis"}
        assert health_check_command(port, environment).returncode == 0  # degraded is still ready


DRAIN = """
from django.utils import timezone
from opsadmin.models import Instance
now = timezone.now()
Instance.objects.create(
    id="{host}:{port}", host="{host}", port="{port}", started_at=now, last_seen_at=now,
    drain_requested_at=now, drained_by="test",
)
"""


def test_a_drained_instance_stays_out_after_a_restart(tmp_path, migrated_database):
    """Its first probe already says draining, though the balancer sends it nothing else to beat on."""
    database = tmp_path / "portal.sqlite3"
    shutil.copyfile(migrated_database, database)
    environment = server_environment(DATABASE_URL=f"sqlite:///{database}")
    port = free_port()
    drained = manage("shell", "-c", DRAIN.format(host=socket.gethostname(), port=port), environment=environment)
    assert drained.returncode == 0, drained.stderr
    with gunicorn(environment, port=port):
        status, body, _ = http(port, "/health/ready/")
        assert (status, json.loads(body)) == (503, {"status": "unavailable", "failing": ["draining"]})
