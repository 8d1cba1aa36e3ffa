"""Readiness on real PostgreSQL opens no connection in steady state: after a warm-up, a stream of probes is
answered on the connections its database check threads keep; one killed under them is replaced by the next
probe, once, and readiness answers ok throughout. Counting connections is behaviour, not speed."""

import pytest
from django.db import connection
from django.db.backends.signals import connection_created

from opsadmin.health.readiness import DATABASE_CHECK_THREADS, readiness
from opsadmin.runtime import thread_connections
from opsadmin.runtime.postgresql.application import is_portal_session, portal_application_name

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WARM_UP, STEADY = 6, 30


@pytest.fixture
def opened():
    """The purpose of every connection this process opens during the test, in order."""
    made = []

    def count(sender, connection, **kwargs):
        made.append(thread_connections.purpose())

    connection_created.connect(count)
    yield made
    connection_created.disconnect(count)


def probe(client, times):
    """`times` probes, each running the checks (no verdict reused); each must answer 200."""
    for _ in range(times):
        readiness.reset()
        response = client.get("/health/ready/")
        assert response.status_code == 200, response.content


def check_sessions():
    """{pid: backend_start} of the portal's sessions of this database opened by readiness's check threads."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, application_name, backend_start FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        rows = cursor.fetchall()
    prefix = portal_application_name()
    return {pid: start for pid, name, start in rows if is_portal_session(name, prefix) and name.endswith(" check")}


def test_steady_probes_open_no_connection(client, opened):
    probe(client, WARM_UP)
    kept = check_sessions()
    assert 1 <= len(kept) <= DATABASE_CHECK_THREADS
    opened.clear()

    probe(client, STEADY)

    assert opened == []
    assert check_sessions() == kept  # the very same sessions, not new ones under the same pids


def test_a_killed_check_connection_is_replaced_by_the_next_probe_once(client, opened):
    probe(client, WARM_UP)
    killed = check_sessions()
    with connection.cursor() as cursor:
        for pid in killed:
            cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
    opened.clear()

    probe(client, STEADY)  # ok every time: each thread finds its connection gone before using it

    assert opened == [thread_connections.CHECK] * len(opened)
    assert 1 <= len(opened) <= len(killed)  # each replaced once, not retried in a loop
    assert not set(check_sessions()) & set(killed)
