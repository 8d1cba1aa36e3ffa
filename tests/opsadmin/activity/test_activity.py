"""Live queries on real PostgreSQL: the lock wait tree, cancel and terminate of exactly the chosen session,
the portal's own sessions refused, bad input refused on every door; and the plain answer on SQLite."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.urls import reverse

from opsadmin.models import OpsRun
from opsadmin.operations.activity import sections
from opsadmin.runtime import identity
from opsadmin.runtime.postgresql.application import APPLICATION_NAME
from tests.helpers import OPERATORS, VIEWERS, exit_code, logged_in, post_json
from tests.opsadmin.activity.sessions import Session, blocked_pair, wait_until_waiting

PAGE = "/admin/ops/activity/"
CANCEL_API = "/api/ops/activity/cancel_query/"
TERMINATE_API = "/api/ops/activity/terminate_backend/"

postgres = [pytest.mark.postgres, pytest.mark.django_db]


def own_pid():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_blocked_query_shows_under_its_blocker_in_the_lock_tree():
    blocker, waiter = blocked_pair()

    tree = sections.blocking()
    assert tree.status == "warning"
    assert tree.headline == "1 session waiting"
    (root,) = tree.data.roots
    assert (root.pid, root.waits_for, root.application) == (blocker.pid, None, "activity-blocker")
    (child,) = root.blocks
    assert child.pid == waiter.pid
    assert child.waits_for == {
        "locktype": "relation",
        "relation": "stocks_stock",
        "mode": "AccessShareLock",
        "blocker_modes": ["AccessExclusiveLock"],
    }
    assert tree.lines == [
        f"pid {blocker.pid} ({root.user}, idle in transaction)",
        f"  pid {waiter.pid} ({child.user}, active) waits for AccessShareLock on stocks_stock",
    ]

    live = {backend.pid: backend for backend in sections.live_queries().data.backends}
    assert live[waiter.pid].blocked_by == [blocker.pid]
    assert live[waiter.pid].flags == ["blocked"]
    assert live[blocker.pid].state == "idle in transaction"
    assert live[own_pid()].this_process
    assert live[own_pid()].portal

    viewer = logged_in(VIEWERS, username="viewer")
    answer = viewer.get("/api/ops/activity/blocking/").json()
    assert answer["data"]["roots"][0]["blocks"][0]["pid"] == waiter.pid
    page = viewer.get(PAGE).content.decode()
    assert f'data-pid="{waiter.pid}" data-depth="1"' in page
    assert f'data-pid="{blocker.pid}" data-depth="0"' in page


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_long_query_is_cut_in_the_list_and_whole_for_its_pid(settings):
    settings.PORTAL_ACTIVITY_LONG_QUERY_SECONDS = 0.1
    padding = "x" * 400
    blocked_pair()
    waiter = Session("activity-long").start(f"SELECT count(*), '{padding}' FROM stocks_stock")
    wait_until_waiting(waiter)
    viewer = logged_in(VIEWERS, username="viewer")

    listed = viewer.get("/api/ops/activity/queries/").json()
    (row,) = [row for row in listed["data"]["backends"] if row["pid"] == waiter.pid]
    assert row["query_truncated"]
    assert len(row["query"]) == sections.QUERY_SHOWN
    assert "long-running" in row["flags"]
    assert "blocked" in row["flags"]
    assert listed["status"] == "warning"

    one = viewer.get("/api/ops/activity/queries/", {"pid": waiter.pid}).json()
    (whole,) = one["data"]["backends"]
    assert padding in whole["query"]
    assert not whole["query_truncated"]
    assert viewer.get("/api/ops/activity/queries/", {"pid": 2**31 - 1}).status_code == 404
    assert viewer.get("/api/ops/activity/queries/", {"pid": "abc"}).status_code == 400
    page = viewer.get(PAGE).content.decode()
    assert padding in page  # the whole text, behind its details toggle
    assert "flag-long-running" in page


@pytest.mark.postgres
@pytest.mark.django_db
def test_cancel_stops_exactly_the_chosen_query():
    blocker, waiter = blocked_pair()
    bystander = Session()
    operator = logged_in(OPERATORS, username="operator")

    answer = post_json(operator, CANCEL_API, {"pids": [waiter.pid]})

    assert answer.status_code == 200, answer.content
    run = answer.json()
    assert run["status"] == "succeeded"
    assert run["result"]["signalled"] == [waiter.pid]
    (step,) = run["result"]["steps"]
    assert (step["name"], step["status"]) == (f"pid {waiter.pid}", "done")
    assert waiter.finished()
    assert "canceling statement due to user request" in str(waiter.error)
    assert waiter.alive  # a cancel ends a statement, not a session
    assert blocker.alive
    assert bystander.alive
    assert blocker.run("SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND mode = 'AccessExclusiveLock'")
    assert sections.blocking().data.roots == []


@pytest.mark.postgres
@pytest.mark.django_db
def test_terminate_ends_exactly_the_chosen_session_and_its_waiter_goes_on():
    blocker, waiter = blocked_pair()
    bystander = Session()
    out = StringIO()

    assert exit_code("ops", "run", "terminate_backend", "--set", f"pids={blocker.pid}", "--json", stdout=out) == 0

    run = json.loads(out.getvalue())
    assert (run["status"], run["door"], run["result"]["signalled"]) == ("succeeded", "cli", [blocker.pid])
    assert run["result"]["steps"][0]["note"].startswith("session ended: pid")
    assert not blocker.alive
    assert waiter.finished()  # its lock came free: its query ran
    assert waiter.error is None
    assert waiter.rows
    assert waiter.alive
    assert bystander.alive


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_portal_own_sessions_are_refused_on_every_door():
    portal = connections.create_connection(DEFAULT_DB_ALIAS)  # another of the portal's, as a web process has
    try:
        with portal.cursor() as cursor:
            cursor.execute("SELECT pid, application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()")
            portal_pid, name = cursor.fetchone()
        assert name == f"{APPLICATION_NAME} {identity.HOST} command"  # this test process's, a command's
        bystander = Session()
        for pid, why in ((portal_pid, "one of the portal's own sessions"), (own_pid(), "this very session")):
            _refused_everywhere({"pids": [bystander.pid, pid]}, why)
        assert bystander.alive
        with portal.cursor() as cursor:
            cursor.execute("SELECT 1")  # still connected
    finally:
        portal.close()


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("pids", "why"),
    [
        ("abc", "Not a process id (a whole number above 0): abc."),
        ("12, -3", "Not a process id (a whole number above 0): -3."),
        ("", "Give at least one pid."),
        (str(2**31 - 1), f"pid {2**31 - 1} is not a session of this database"),
    ],
    ids=["not-a-number", "negative", "empty", "unknown"],
)
def test_bad_input_is_refused_on_every_door_and_nothing_is_signalled(pids, why):
    blocker, waiter = blocked_pair()
    _refused_everywhere({"pids": pids}, why)
    assert blocker.alive  # still waiting: nothing was signalled
    assert waiter.alive
    assert waiter.thread.is_alive()


@pytest.mark.postgres
@pytest.mark.django_db
def test_another_database_sessions_are_refused():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname IS DISTINCT FROM current_database() LIMIT 1")
        row = cursor.fetchone()
    if row is None:
        pytest.skip("no session of another database or a background process to try")
    _refused_everywhere({"pids": [row[0]]}, f"pid {row[0]} is a session of another database")


def _refused_everywhere(data, why):
    """Each door refuses `data` saying `why`, and records the attempt as refused; nothing runs."""
    operator = logged_in(OPERATORS, username=f"operator-{OpsRun.objects.count()}")
    for path in (CANCEL_API, TERMINATE_API):
        answer = post_json(operator, path, data)
        assert answer.status_code == 400, answer.content
        assert why in " ".join(answer.json()["fields"]["pids"])
    value = data["pids"] if isinstance(data["pids"], str) else ",".join(str(pid) for pid in data["pids"])
    with pytest.raises(CommandError, match="pids") as refused:
        call_command("ops", "run", "cancel_query", "--set", f"pids={value}", stdout=StringIO())
    assert refused.value.returncode == 2
    assert why.rstrip(".") in str(refused.value)
    page_url = reverse("admin:ops_operation", args=["terminate_backend"])
    page = operator.post(page_url, {"pids": value, "confirmed": "yes"})
    assert page.status_code == 200
    assert why.replace("'", "&#x27;") in page.content.decode()
    assert not OpsRun.objects.exclude(status=OpsRun.Status.REFUSED).exists()


@pytest.mark.postgres
@pytest.mark.django_db
def test_operators_get_the_controls_and_viewers_only_the_view():
    blocker, waiter = blocked_pair()
    viewer = logged_in(VIEWERS, username="viewer")
    operator = logged_in(OPERATORS, username="operator")

    seen = viewer.get(PAGE).content.decode()
    assert f"pid {waiter.pid}" in seen
    assert "Terminate selected" not in seen
    assert 'name="pids"' not in seen
    assert post_json(viewer, CANCEL_API, {"pids": [waiter.pid]}).status_code == 403
    assert viewer.get(reverse("admin:ops_operation", args=["cancel_query"])).status_code == 403

    controls = operator.get(PAGE).content.decode()
    assert "Terminate selected" in controls
    assert f'value="{waiter.pid}"' in controls
    assert f'value="{own_pid()}"' not in controls  # the portal's own sessions have no checkbox
    confirm = operator.get(reverse("admin:ops_operation", args=["terminate_backend"]), {"pids": blocker.pid})
    assert confirm.status_code == 200
    assert waiter.thread.is_alive()  # a link fills the form; nothing runs before the confirmation


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_connections_section_warns_from_its_threshold(settings):
    Session()
    section = sections.connections()
    assert section.status == "ok"
    assert section.headline == f"{section.data.used:,} of {section.data.max_connections:,} connections"
    assert section.data.by_application["activity-test"] == 1

    settings.PORTAL_ACTIVITY_CONNECTIONS_WARN_PERCENT = 0.1
    crowded = sections.connections()
    assert crowded.status == "warning"
    assert "warning" in crowded.detail
    out = StringIO()
    assert exit_code("system_status", "--json", stdout=out) == 1
    assert json.loads(out.getvalue())["sections"]["activity"]["status"] == "warning"


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_portal_own_connections_are_counted_by_instance_and_purpose():
    Session()  # not the portal's
    others = [connections.create_connection(DEFAULT_DB_ALIAS) for _ in range(2)]  # two more of this process's
    try:
        for other in others:
            other.ensure_connection()
        data = sections.connections().data
        groups = {(group.instance, group.purpose): group.count for group in data.portal}
        assert groups[(identity.HOST, "command")] >= 3  # this test's own session, and the two above
        assert data.portal_total == sum(groups.values())
        assert "activity-test" not in {group.purpose for group in data.portal}
        page = logged_in(VIEWERS, username="viewer").get(PAGE).content.decode()
        assert 'id="activity-portal-connections"' in page
        assert '<td class="py-1 pr-3">command</td>' in page
        assert 'id="activity-pooled"' not in page
    finally:
        for other in others:
            other.close()


@pytest.mark.postgres
@pytest.mark.django_db
def test_through_a_transaction_pooler_the_page_says_whose_sessions_those_are(monkeypatch):
    monkeypatch.setitem(connection.settings_dict, "TRANSACTION_POOLING", True)
    assert sections.connections().data.pooled
    page = logged_in(VIEWERS, username="viewer").get(PAGE).content.decode()
    assert 'id="activity-pooled"' in page
    assert "these are the pool's server sessions" in page


@pytest.mark.sqlite
@pytest.mark.django_db
def test_on_sqlite_the_page_says_postgresql_is_needed_and_writes_refuse():
    viewer = logged_in(VIEWERS, username="viewer")
    page = viewer.get(PAGE).content.decode()
    assert "Live queries need PostgreSQL" in page
    for read in ("connections", "queries", "blocking"):
        answer = viewer.get(f"/api/ops/activity/{read}/")
        assert answer.status_code == 200
        assert (answer.json()["status"], answer.json()["headline"]) == ("ok", "needs PostgreSQL")
        assert answer.json()["data"]["supported"] is False
    _refused_everywhere({"pids": [12345]}, "Live queries need PostgreSQL")
