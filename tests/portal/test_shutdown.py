"""A graceful shutdown's parts (portal/shutdown.py); the whole, behind HAProxy, is in tests/system."""

import logging
import logging.handlers
import os
import signal
import time

import pytest
from django.core.cache import caches
from django.db import connection

from portal import shutdown, shutting_down

pytestmark = pytest.mark.posix  # forks, and signals the process


@pytest.fixture
def sigterm():
    """SIGTERM's handler put back after the test; yields the list a recording handler appends to."""
    calls = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(signum))
    yield calls
    signal.signal(signal.SIGTERM, previous)


# The child only reads a pipe and exits: no lock another thread may hold is touched after the fork.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_the_flag_raised_in_the_master_is_seen_by_a_worker_forked_before():
    """gunicorn forks its workers long before a SIGTERM reaches the master: the flag must cross that fork."""
    announced = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: waits for the master's word, then reports what it reads
        os.read(announced[0], 1)
        os._exit(0 if shutting_down.announced() else 1)
    shutting_down.announce()
    os.write(announced[1], b"x")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_sigterm_announces_at_once_and_stops_after_the_drain(sigterm):
    shutdown.drain_before_stopping(0.3)

    os.kill(os.getpid(), signal.SIGTERM)
    assert shutting_down.announced()
    assert sigterm == []  # still serving
    deadline = time.monotonic() + 5
    while not sigterm and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sigterm == [signal.SIGTERM]  # then stopped, gunicorn's way


def test_a_second_sigterm_stops_at_once(sigterm):
    shutdown.drain_before_stopping(60)

    os.kill(os.getpid(), signal.SIGTERM)
    os.kill(os.getpid(), signal.SIGTERM)

    assert sigterm == [signal.SIGTERM]


def test_no_drain_asked_for_stops_at_once(sigterm):
    shutdown.drain_before_stopping(0)
    os.kill(os.getpid(), signal.SIGTERM)
    assert sigterm == [signal.SIGTERM]
    assert not shutting_down.announced()


@pytest.mark.django_db(transaction=True)
def test_the_connections_are_closed_database_and_cache():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    cache = caches["default"]
    cache.set("shutdown-test", 1)
    assert connection.connection is not None

    shutdown.close_connections()

    if connection.vendor != "sqlite":  # Django keeps the SQLite test database's only connection open
        assert connection.connection is None
    redis = getattr(cache, "client", None)
    if hasattr(redis, "disconnect"):  # on Redis: no pool keeps a socket open
        pools = [client.connection_pool for client in filter(None, redis._clients)]
        assert pools
        assert all(held._sock is None for pool in pools for held in pool._available_connections)
    assert cache.get("shutdown-test") == 1  # and it connects again if asked


def test_the_logs_are_flushed():
    written = []
    target = logging.Handler()
    target.emit = written.append
    buffered = logging.handlers.MemoryHandler(capacity=1000, flushLevel=logging.CRITICAL + 1, target=target)
    log = logging.getLogger("tests.shutdown")
    log.addHandler(buffered)
    try:
        log.warning("the last words")
        assert written == []

        shutdown.flush_logs()

        assert [record.getMessage() for record in written] == ["the last words"]
    finally:
        log.removeHandler(buffered)
