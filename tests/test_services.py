"""The throwaway servers `make test` runs on: they work, and leave nothing behind.

Not marked postgres/redis: these tests start their own servers, so they run in both
passes, and skip (fail in CI) only when the binaries are missing.
"""

import os
import socket
import tempfile
import time
from contextlib import closing
from pathlib import Path

import psycopg2
import pytest
import redis

from tests import services


@pytest.fixture
def made_dirs(monkeypatch):
    """The temporary directories the servers create, to check they are removed."""
    made, mkdtemp = [], tempfile.mkdtemp

    def recording_mkdtemp(*args, **kwargs):
        made.append(mkdtemp(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(services.tempfile, "mkdtemp", recording_mkdtemp)
    return made


def require(unavailable):
    reason = unavailable()
    if reason:
        services.skip_or_fail(reason)


def assert_gone(dirs):
    assert dirs
    for path in dirs:
        assert not Path(path).exists(), f"{path} left behind"


def test_postgres_serves_pg_stat_statements_then_disappears(made_dirs):
    require(services.postgres_unavailable)
    with services.throwaway_postgres() as url:
        assert url.startswith("postgres://postgres@127.0.0.1:")
        with closing(psycopg2.connect(url)) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_statements")
            assert cursor.fetchone()[0] >= 0
        # Django's test database is copied from template1, so the extension must be there.
        with closing(psycopg2.connect(url.rsplit("/", 1)[0] + "/template1")) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT extname FROM pg_extension")
            assert "pg_stat_statements" in {row[0] for row in cursor.fetchall()}
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(url, connect_timeout=2)
    assert_gone(made_dirs)


def test_postgres_restarts_with_its_data_on_the_same_url():
    require(services.postgres_unavailable)
    with services.throwaway_postgres() as url:
        with closing(psycopg2.connect(url)) as conn, conn.cursor() as cursor:
            cursor.execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (1)")
            conn.commit()
        url.stop()
        with pytest.raises(psycopg2.OperationalError):
            psycopg2.connect(url, connect_timeout=2)
        url.start()
        with closing(psycopg2.connect(url)) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT n FROM kept")
            assert cursor.fetchall() == [(1,)]


def test_postgres_is_stopped_when_the_block_raises(made_dirs):
    require(services.postgres_unavailable)
    with pytest.raises(KeyboardInterrupt), services.throwaway_postgres() as url:
        raise KeyboardInterrupt
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(url, connect_timeout=2)
    assert_gone(made_dirs)


def test_pgbouncer_pools_transactions_refuses_startup_options_then_disappears(made_dirs):
    """One server connection shared by two clients, and a client sending `options` refused, as production's
    PgBouncer (docs/deployment.md#pgbouncer) would refuse the portal if it sent its timeout that way."""
    require(services.postgres_unavailable)
    require(services.pgbouncer_unavailable)
    with services.throwaway_postgres() as postgres, services.throwaway_pgbouncer(postgres, pool_size=1) as url:
        assert url.startswith("postgres://postgres@127.0.0.1:")
        pids = set()
        for _ in range(2):  # in autocommit: a client leaving in a transaction takes its server connection along
            with closing(psycopg2.connect(url)) as conn:
                conn.autocommit = True
                with conn.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    pids.add(cursor.fetchone()[0])
        assert len(pids) == 1
        with pytest.raises(psycopg2.OperationalError, match="unsupported startup parameter: options"):
            psycopg2.connect(url, options="-c statement_timeout=1s")
        with closing(psycopg2.connect(url.admin)) as conn:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute("SHOW CONFIG")
                assert ("pool_mode", "transaction") in {tuple(row[:2]) for row in cursor.fetchall()}
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(url, connect_timeout=2)
    assert_gone(made_dirs)


def test_redis_serves_then_disappears(made_dirs):
    require(services.redis_unavailable)
    with services.throwaway_redis() as url:
        assert url.startswith("redis://127.0.0.1:")
        with closing(redis.Redis.from_url(url)) as client:
            client.set("answer", 42)
            assert client.get("answer") == b"42"
            assert client.config_get("save") == {"save": ""}  # no persistence
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    assert_gone(made_dirs)


def test_redis_is_stopped_when_the_block_raises(made_dirs):
    require(services.redis_unavailable)
    with pytest.raises(KeyboardInterrupt), services.throwaway_redis() as url:
        raise KeyboardInterrupt
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    assert_gone(made_dirs)


def test_missing_binaries_are_explained_in_one_line(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(services, "POSTGRES_BIN_GLOB", "/nonexistent/*/bin")
    assert services.postgres_unavailable() == "PostgreSQL not found: install postgresql (initdb missing)"
    assert services.redis_unavailable() == "Redis not found: install redis-server (redis-server missing)"
    with pytest.raises(services.ServiceUnavailable, match="install redis-server"), services.throwaway_redis():
        pass


def test_redis_can_be_killed_started_paused_and_resumed(made_dirs):
    require(services.redis_unavailable)
    with services.throwaway_redis() as server, closing(redis.Redis.from_url(server, socket_timeout=0.5)) as client:
        server.kill()
        with pytest.raises(redis.ConnectionError):
            client.ping()
        server.start()
        assert client.ping()
        server.pause()
        with pytest.raises(redis.TimeoutError):  # a hung server: connected, never answered
            client.ping()
        server.resume()
        assert client.ping()
    assert_gone(made_dirs)


def test_postgresql_can_be_paused_and_resumed(made_dirs):
    require(services.postgres_unavailable)
    with services.throwaway_postgres() as url:
        url.pause()
        started = time.monotonic()
        with pytest.raises(psycopg2.OperationalError, match="timeout"):
            psycopg2.connect(url, connect_timeout=2)  # accepted by the kernel, never answered
        assert time.monotonic() - started >= 1.5
        url.resume()
        with closing(psycopg2.connect(url, connect_timeout=5)) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            assert cursor.fetchone() == (1,)
    assert_gone(made_dirs)


BARE_APP = "bench.bare_app:application"  # answers / with a constant: gunicorn alone, no Django


@pytest.fixture
def taken_port():
    """A port another process holds (listening, never answering) by the time gunicorn binds."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener.getsockname()[1]


def test_gunicorn_starts_on_fresh_ports_when_the_one_picked_was_taken_meanwhile(monkeypatch, taken_port):
    picks, free_port = [taken_port], services.free_port
    monkeypatch.setattr(services, "free_port", lambda: picks.pop() if picks else free_port())
    with services.gunicorn(dict(os.environ), app=BARE_APP) as port:
        assert port != taken_port
        assert services.http(port, "/")[:2] == (200, b'{"status": "ok"}')
    assert not picks


def test_gunicorn_gives_up_after_a_few_taken_ports_and_tries_a_given_port_once(monkeypatch, taken_port):
    picked = []
    monkeypatch.setattr(services, "free_port", lambda: picked.append(taken_port) or taken_port)
    started = time.monotonic()
    with (
        pytest.raises(services.PortTaken, match=f"Connection in use: .*{taken_port}"),
        services.gunicorn(dict(os.environ), app=BARE_APP),
    ):
        pass
    assert len(picked) == services.PORT_ATTEMPTS
    with pytest.raises(services.PortTaken), services.gunicorn(dict(os.environ), app=BARE_APP, port=taken_port):
        pass
    assert len(picked) == services.PORT_ATTEMPTS
    assert time.monotonic() - started < 10  # gunicorn alone retries a port in use for 5 s: 20 s for these four
