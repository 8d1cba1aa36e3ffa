"""The portal's PostgreSQL engine against a real server that is stopped, started and paused: bounded connects,
the breaker opening and recovering by its trial, deadlines on a hung server, and errors that are answers."""

import logging
import time

import psycopg2
import pytest
from django.conf import settings
from django.db import OperationalError, ProgrammingError

from opsadmin.operations.database.runner import maintenance_session
from opsadmin.runtime.breakers import CLOSED, OPEN
from opsadmin.runtime.postgresql import budgets, deadlines
from opsadmin.runtime.postgresql.unavailable import DatabaseUnavailable

pytestmark = pytest.mark.postgres

RETRIES = "opsadmin.runtime.postgresql.connecting"


def query(connection, sql):
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone() if cursor.description else None


def failure(connection, sql):
    """(the error, seconds) of a statement that must fail."""
    started = time.monotonic()
    with pytest.raises(Exception) as raised:  # noqa: PT011  (the tests look at which)
        query(connection, sql)
    return raised.value, time.monotonic() - started


def retries(caplog):
    return [record for record in caplog.records if record.name == RETRIES]


def test_a_stopped_server_fails_bounded_connects_opens_the_breaker_and_recovers_by_its_trial(
    server, connect_to, breaker, web, caplog
):
    connection = connect_to(server)
    assert query(connection, "SELECT 1") == (1,)
    connection.close()
    caplog.set_level(logging.DEBUG, logger=RETRIES)
    server.stop()
    try:
        error, seconds = failure(connection, "SELECT 1")
        assert isinstance(error, DatabaseUnavailable)
        assert error.state == CLOSED
        assert "Connection refused" in str(error)
        assert seconds < web["connect_seconds"]
        assert len(retries(caplog)) == web["connect_attempts"] - 1
        assert breaker.fail_counter == 1  # one exhausted connect, one failure

        failure(connection, "SELECT 1")
        assert breaker.current_state == OPEN
        caplog.clear()
        error, seconds = failure(connection, "SELECT 1")
        assert isinstance(error, DatabaseUnavailable)
        assert (error.state, error.retry_after) == (OPEN, 1)
        assert str(error) == "database unavailable: circuit breaker open, retry in 1 s"
        assert seconds < 0.1
        assert not retries(caplog)  # no connect was tried
    finally:
        server.start()
    time.sleep(breaker.seconds_until_trial())
    assert query(connection, "SELECT 1") == (1,)  # the trial
    assert breaker.current_state == CLOSED


def test_a_server_that_never_answers_a_connect_fails_it_within_the_budget(hanging, connect_to, breaker, web):
    connection = connect_to(f"postgres://postgres@127.0.0.1:{hanging.port}/postgres")
    error, seconds = failure(connection, "SELECT 1")
    assert isinstance(error, DatabaseUnavailable)
    assert "the server did not connect within" in str(error)
    assert web["connect_seconds"] - 0.05 < seconds < web["connect_seconds"] + 0.3
    assert breaker.fail_counter == 1


def test_a_paused_server_fails_a_statement_at_its_deadline_and_the_connection_is_replaced(
    server, connect_to, breaker, web
):
    connection = connect_to(server)
    (before,) = query(connection, "SELECT pg_backend_pid()")
    server.pause()  # SIGSTOP: the server and its host still hold the connection, and never answer
    try:
        error, seconds = failure(connection, "SELECT 1")
    finally:
        server.resume()
    assert isinstance(error, DatabaseUnavailable)
    assert "the server did not answer within" in str(error)
    assert 1.5 <= seconds < 2.0  # the web statement_timeout (1 s) plus the grace (0.5 s)
    assert connection.connection.closed  # psycopg2 closed it
    connection.close_if_unusable_or_obsolete()  # as Django does when the request ends
    (after,) = query(connection, "SELECT pg_backend_pid()")
    assert after != before
    assert breaker.current_state == CLOSED


def test_a_statement_the_server_does_not_cancel_is_cut_at_the_deadline(server, connect_to, breaker, web):
    connection = connect_to(server)
    query(connection, "SET statement_timeout = 0")
    error, seconds = failure(connection, "SELECT pg_sleep(5)")
    assert isinstance(error, DatabaseUnavailable)
    assert 1.5 <= seconds < 2.0


def test_sql_errors_and_statement_timeouts_pass_unchanged_and_do_not_count(server, connect_to, breaker, web):
    connection = connect_to(server)
    for _ in range(breaker.fail_max):
        error, _ = failure(connection, "SELECT * FROM no_such_table")
        assert type(error) is ProgrammingError
        error, seconds = failure(connection, "SELECT pg_sleep(3)")
        assert type(error) is OperationalError
        assert "statement timeout" in str(error)
        assert seconds < 1.5  # the server cancelled it, before the client's deadline
    assert (breaker.current_state, breaker.fail_counter) == (CLOSED, 0)
    assert query(connection, "SELECT 1") == (1,)


def test_an_open_breaker_fails_statements_on_an_open_connection_at_once(server, connect_to, breaker):
    connection = connect_to(server)
    query(connection, "SELECT 1")
    breaker.force_open("test")
    error, seconds = failure(connection, "SELECT 1")
    assert isinstance(error, DatabaseUnavailable)
    assert error.state == OPEN
    assert seconds < 0.1
    assert connection.is_usable() is False  # Django's health check of a reused connection: no round trip


def test_a_thread_deadline_ends_its_waits_sooner(server, connect_to, breaker, web):
    connection = connect_to(server)
    query(connection, "SELECT 1")
    with deadlines.within(0.3):
        error, seconds = failure(connection, "SELECT pg_sleep(2)")
    assert isinstance(error, DatabaseUnavailable)
    assert 0.3 <= seconds < 0.6


def test_statement_timeout_by_process_kind(server, connect_to, breaker, monkeypatch):
    command = settings.PORTAL_DB_BUDGETS[budgets.COMMAND]["statement_timeout"]
    assert query(connect_to(server), "SHOW statement_timeout") == (command,)
    monkeypatch.setattr(budgets, "_kind", budgets.WEB)
    web = settings.PORTAL_DB_BUDGETS[budgets.WEB]["statement_timeout"]
    assert query(connect_to(server), "SHOW statement_timeout") == (web,)


def test_a_maintenance_session_waits_as_long_as_its_own_statement_timeout(db, web, settings):
    """Index builds raise their session's statement_timeout: the client's deadline follows, even on the web."""
    settings.PORTAL_INDEX_STATEMENT_TIMEOUT = "5s"
    with maintenance_session(builds=False) as session, session.connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(2)")  # past the web process's 1 s + 0.5 s
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone() == ("5s",)


def test_connections_made_elsewhere_keep_their_own_connect_timeout(hanging):
    """The wait callback is the process's: a plain psycopg2.connect still gives up at its connect_timeout."""
    deadlines.install()
    started = time.monotonic()
    with pytest.raises(psycopg2.OperationalError, match="timeout expired"):
        psycopg2.connect(host="127.0.0.1", port=hanging.port, user="portal", dbname="portal", connect_timeout=1)
    assert 1 <= time.monotonic() - started < 1.5
