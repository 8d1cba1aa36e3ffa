"""Which connections a thread keeps, and the names every session gives PostgreSQL: the long-lived threads'
connections outlive CONN_MAX_AGE and go only when broken (on PostgreSQL: SQLite's in-memory test database is
never closed); a name says the instance and the purpose in 63 bytes."""

import threading

import pytest
from django.db import connection, connections

from opsadmin.runtime import identity, thread_connections
from opsadmin.runtime.postgresql import application, budgets

pytestmark = pytest.mark.django_db(transaction=True)


def in_thread(purpose, work):
    """`work()`'s answer, from a new thread serving `purpose` (None: the process's own)."""
    answer = []

    def run():
        if purpose:
            thread_connections.serve(purpose)
        try:
            answer.append(work())
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return answer[0]


def used_twice():
    """Whether the connection opened by a first run is still the one after the run is done and a second starts."""
    connection.ensure_connection()
    first = connection.connection
    thread_connections.done()
    connection.ensure_connection()
    return connection.connection is first


@pytest.mark.postgres
def test_a_long_lived_thread_keeps_its_connection_past_conn_max_age(monkeypatch):
    # Every thread's wrapper shares this dict: with 0, a request thread's connection closes after every request.
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)
    for purpose in thread_connections.KEPT:
        assert in_thread(purpose, used_twice), purpose
    assert not in_thread(None, used_twice)  # a command's, or a pool thread's of no purpose: closed when done


@pytest.mark.postgres
def test_a_broken_kept_connection_is_closed_when_the_run_is_done(monkeypatch):
    def broken():
        connection.ensure_connection()
        connection.errors_occurred = True  # what Django sets when a statement fails on a lost connection
        monkeypatch.setattr(type(connections["default"]), "is_usable", lambda self: False)
        thread_connections.done()
        return connection.connection

    assert in_thread(thread_connections.CHECK, broken) is None  # the next run opens another, once


@pytest.mark.postgres
def test_close_kept_ends_every_kept_connection_from_another_thread():
    opened, release = threading.Event(), threading.Event()
    seen = []

    def hold():
        thread_connections.serve(thread_connections.HEARTBEAT)
        connection.ensure_connection()
        opened.set()
        release.wait(10)
        seen.append(connection.connection)
        connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    opened.wait(10)
    thread_connections.close_kept()
    release.set()
    thread.join()
    assert seen == [None]


def test_session_names_say_instance_and_purpose_within_63_bytes(monkeypatch):
    monkeypatch.setattr(identity, "_instance_id", "web-1:8000")
    name = in_thread(thread_connections.CHECK, lambda: application.session_name("stockscanner-portal"))
    assert name == "stockscanner-portal web-1:8000 check"
    monkeypatch.setattr(identity, "_instance_id", "ä" + "h" * 80 + " x:8000")
    long = in_thread(thread_connections.HEARTBEAT, lambda: application.session_name("stockscanner-portal"))
    assert len(long.encode()) == application.NAME_BYTES
    assert long.startswith("stockscanner-portal ?hhh")
    assert long.endswith(" heartbeat")
    assert application.parse_session_name(long, "stockscanner-portal")[1] == "heartbeat"


def test_a_process_without_an_instance_goes_by_its_host():
    name = in_thread(None, lambda: application.session_name("stockscanner-portal"))
    assert name == f"stockscanner-portal {identity.HOST} command"


def test_a_web_process_not_yet_named_goes_by_its_configured_instance(monkeypatch, settings):
    """The gunicorn master warming up, or a worker before its first beat: the instance its configuration names."""
    monkeypatch.setattr(budgets, "_kind", budgets.WEB)
    settings.PORTAL_INSTANCE_ID, settings.PORTAL_INSTANCE_LISTENER = "web-a", "8000"
    name = in_thread(thread_connections.CHECK, lambda: application.session_name("stockscanner-portal"))
    assert name == "stockscanner-portal web-a:8000 check"


def test_portal_sessions_are_recognised_by_their_prefix():
    prefix = "stockscanner-portal"
    assert application.is_portal_session("stockscanner-portal", prefix)  # an older release's bare name
    assert application.is_portal_session("stockscanner-portal web-1:8000 web", prefix)
    assert not application.is_portal_session("stockscanner-portal-copy web-1:8000 web", prefix)
    assert not application.is_portal_session("psql", prefix)
    assert application.parse_session_name("stockscanner-portal web 1:8000 check", prefix) == ("web 1:8000", "check")
    assert application.parse_session_name("stockscanner-portal", prefix) == ("", "")
