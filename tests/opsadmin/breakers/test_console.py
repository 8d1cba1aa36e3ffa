"""The breaker console: its read's statuses, its writes on every door with their permission and audit rows,
where they run (here with Redis, in every web process without), its command's exit codes and JSON, its page,
its dashboard tile, and its health checks in readiness."""

import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from opsadmin.health.readiness import readiness
from opsadmin.models import OpsRun
from opsadmin.operations.breakers.sections import breaker_list
from opsadmin.runtime import breakers, identity
from opsadmin.runtime.breakers import CLOSED, OPEN
from opsadmin.runtime.heartbeat import ProcessThread, record_heartbeat
from opsadmin.runtime.identity import HOST
from opsadmin.spine import channel, humanize
from opsadmin.spine.results import FAILING, OK, WARNING
from tests.helpers import OPERATORS, VIEWERS, exit_code, logged_in, post_json
from tests.services import REPO, free_port

pytestmark = pytest.mark.django_db

WRITES = ("reset_breaker", "open_breaker", "half_open_breaker")
PAGE = "/admin/ops/breakers/"


def declared(**declarations):
    return override_settings(PORTAL_BREAKERS={**settings.PORTAL_BREAKERS, **declarations})


@pytest.fixture
def each_process_its_own():
    """No REDIS_URL: every process keeps its own state, so a write must reach every web process. This test
    process is one once a request named it; the fixture gives what its thread would do: take the work, answer."""
    with override_settings(REDIS_URL=""):
        yield lambda: channel.deliver(*identity.this_process())


@pytest.fixture
def upstream():
    """A third breaker that nothing calls: the database's, half-opened, would be closed by the next query's trial."""
    with declared(upstream={"purpose": "a test dependency", "fail_max": 2, "reset_timeout": 30}):
        yield breakers.get("upstream")


def trip(breaker):
    def refused():
        raise ConnectionRefusedError("connection refused")

    for _ in range(breaker.fail_max):
        with pytest.raises(ConnectionRefusedError):
            breaker.call(refused)


def test_the_read_is_failing_while_one_is_open_a_warning_while_half_open_and_lists_problems_first():
    with declared(upstream={"purpose": "a test dependency", "fail_max": 2, "reset_timeout": 30}):
        upstream = breakers.get("upstream")
        assert (breaker_list().status, breaker_list().headline) == (OK, "all 3 closed")
        trip(upstream)
        section = breaker_list()
        assert (section.status, section.headline) == (FAILING, "upstream open")
        assert section.detail == "upstream: calls fail at once, trial in 30 s"
        assert section.lines[0].startswith("upstream: open — 2 of 2 failures, opened 0 s ago, trial in 30 s; ")
        assert section.lines[0].endswith("last error 0 s ago: ConnectionRefusedError: connection refused")
        assert section.lines[-1].startswith("state kept in ")
        assert [status.name for status in section.data.breakers] == ["upstream", "database", "cache"]
        assert (section.data.open, section.data.half_open) == (["upstream"], [])

        upstream.force_half_open("alice")
        section = breaker_list()
        assert (section.status, section.headline, section.detail) == (
            WARNING,
            "upstream half-open",
            "the next call is a trial",
        )
        assert section.lines[0].startswith("upstream: half-open — 2 of 2 failures, the next call is a trial")


@pytest.mark.parametrize("write", WRITES)
def test_a_viewer_is_refused_every_write_on_every_door(write):
    viewer = logged_in(VIEWERS, username="viewer")
    assert post_json(viewer, f"/api/ops/breakers/{write}/", {"name": "cache"}).status_code == 403
    assert post_json(viewer, "/api/ops/breakers/cache/reset/", {}).status_code == 403
    assert viewer.get(f"/admin/ops/run/{write}/").status_code == 403
    assert viewer.post(f"/admin/ops/run/{write}/", {"name": "cache", "confirmed": "yes"}).status_code == 403
    assert not OpsRun.objects.exists()
    assert breakers.get("cache").current_state == CLOSED


def test_the_page_shows_every_breaker_to_viewers_without_a_button(client):
    breakers.get("cache").force_open("alice")
    page = logged_in(VIEWERS, username="viewer").get(PAGE).content.decode()
    assert 'data-breaker="database"' in page
    assert page.index('data-breaker="cache"') < page.index('data-breaker="database"')  # the problem first
    assert "/admin/ops/run/" not in page
    assert "opened by alice" in page
    assert "<details>" in page  # the raw JSON, behind its toggle


@pytest.mark.redis
def test_with_the_state_in_redis_an_operator_resets_it_here_for_the_fleet():
    breaker = breakers.get("cache")
    trip(breaker)
    operator = logged_in(OPERATORS, username="operator")
    page = operator.get(PAGE).content.decode()
    assert re.findall(r'data-write="(\w+)"', page) == [
        "reset_breaker",  # cache: open, so no Force open
        "half_open_breaker",
        "half_open_breaker",  # database: closed with no failure, so no Reset
        "open_breaker",
    ]

    response = post_json(operator, "/api/ops/breakers/cache/reset/", {})
    assert response.status_code == 200, response.content
    run = response.json()
    assert (run["operation"], run["target"], run["status"], run["door"]) == (
        "reset_breaker",
        "here",
        "succeeded",
        "api",
    )
    redis_at = breaker.status().where
    assert redis_at.startswith("Redis 127.0.0.1:")
    assert run["summary"] == f"cache: open -> closed; state in {redis_at}"
    assert run["result"] | {"steps": [], "problems": []} == {
        "summary": run["summary"],
        "ok": True,
        "problems": [],
        "steps": [],
        "breaker": "cache",
        "before": OPEN,
        "after": CLOSED,
        "where": redis_at,
    }
    assert breaker.status().history[0]["cause"] == "reset by operator"
    assert OpsRun.objects.get().actor == "operator"


def test_without_redis_a_write_reaches_every_web_process(each_process_its_own):
    breaker = breakers.get("cache")
    trip(breaker)
    operator = logged_in(OPERATORS, username="operator")
    sent = post_json(operator, "/api/ops/breakers/cache/reset/", {})
    assert (sent.status_code, sent.json()["target"], sent.json()["status"]) == (202, "every_web_process", "queued")
    assert breaker.current_state == OPEN  # until this process's thread takes it
    each_process_its_own()
    run = OpsRun.objects.get()
    assert run.status == "succeeded"
    where = "this process, as each process keeps its own (no REDIS_URL)"
    assert run.summary == f"1 of 1 process done: cache: open -> closed; state in {where}"
    assert breaker.current_state == CLOSED


def test_force_open_is_confirmed_on_its_page_then_audited(each_process_its_own):
    operator = logged_in(OPERATORS, username="operator")
    asked = operator.post("/admin/ops/run/open_breaker/", {"name": "cache"})
    confirmation = asked.context["confirmation"]
    assert confirmation.action == "Open the cache circuit breaker"
    assert confirmation.size == "for 10.0 s, then one trial call decides"
    assert confirmation.items[0].startswith("cache: The Redis cache")
    assert confirmation.items[1:] == [f"{identity.this_instance_id()} pid {os.getpid()}"]  # every web process
    assert not OpsRun.objects.exists()

    done = operator.post("/admin/ops/run/open_breaker/", {"name": "cache", "confirmed": "yes"})
    assert done.status_code == 302
    each_process_its_own()
    assert breakers.get("cache").current_state == OPEN
    run = OpsRun.objects.get()
    assert (run.operation, run.door, run.actor, run.arguments, run.status) == (
        "open_breaker",
        "admin",
        "operator",
        {"name": "cache"},
        "succeeded",
    )
    assert breakers.get("cache").status().history[0]["cause"] == "opened by operator"


def test_a_name_no_breaker_has_is_refused_on_every_door():
    operator = logged_in(OPERATORS, username="operator")
    for path, body in [("/api/ops/breakers/reset_breaker/", {"name": "nope"}), ("/api/ops/breakers/nope/reset/", {})]:
        refused = post_json(operator, path, body)
        assert (refused.status_code, refused.json()["fields"]) == (
            400,
            {"name": ["Not a declared circuit breaker: nope."]},
        )
    page = operator.post("/admin/ops/run/half_open_breaker/", {"name": "nope"})
    assert "Not a declared circuit breaker: nope." in page.content.decode()
    with pytest.raises(CommandError, match="Not a declared circuit breaker: nope") as command:
        call_command("breakers", "open", "nope", stdout=StringIO())
    assert command.value.returncode == 2
    assert exit_code("breakers", "reset", stdout=StringIO()) == 2  # no NAME
    assert exit_code("breakers", "list", "cache", stdout=StringIO()) == 2
    # Only the destructive write's attempt is audited as refused (force open: confirmed on the admin's page).
    assert list(OpsRun.objects.values_list("operation", "door", "status")) == [("open_breaker", "cli", "refused")]


@pytest.mark.django_db(transaction=True)  # this process's own thread answers what is sent to it
def test_the_command_lists_opens_and_resets_with_its_exit_codes(each_process_its_own, ops_groups, upstream):
    listed = StringIO()
    assert exit_code("breakers", "list", stdout=listed) == 0
    assert listed.getvalue().startswith("Breakers: ok — all 3 closed")

    record_heartbeat(HOST, "8000", force=True)  # the one web process: this one, its thread answering
    thread = ProcessThread("8000", "web")
    with override_settings(PORTAL_COMMAND_POLL_SECONDS=0.05):
        thread.start()
        try:
            opened = StringIO()
            assert exit_code("breakers", "open", "cache", "--json", stdout=opened) == 0
            half_opened = StringIO()
            assert exit_code("breakers", "half-open", "upstream", stdout=half_opened) == 0
        finally:
            thread.stop()
    run = json.loads(opened.getvalue())
    assert (run["operation"], run["door"], run["status"]) == ("open_breaker", "cli", "succeeded")
    assert half_opened.getvalue().startswith("1 of 1 process done: upstream: closed -> half-open")

    listed = StringIO()
    assert exit_code("breakers", "list", "--json", stdout=listed) == 1
    section = json.loads(listed.getvalue())
    assert (section["status"], section["headline"], section["data"]["half_open"]) == (
        FAILING,
        "cache open",
        ["upstream"],
    )


def test_breakers_list_needs_no_database():
    """A command of its own, its database a port nothing listens on: the list still answers, from Redis when
    this pass has one (this process opened the cache breaker there) or from its own process."""
    if settings.REDIS_URL:
        breakers.get("cache").force_open("test")
    environment = dict(os.environ, DATABASE_URL=f"postgres://nobody@127.0.0.1:{free_port()}/gone")
    command = [sys.executable, "manage.py", "breakers", "list", "--json"]
    listed = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=60)
    section = json.loads(listed.stdout)
    if settings.REDIS_URL:
        assert (listed.returncode, section["headline"]) == (1, "cache open"), listed.stderr
    else:
        assert (listed.returncode, section["headline"]) == (0, "all 2 closed"), listed.stderr


def test_readiness_fails_while_the_database_breaker_is_open_and_degrades_for_the_others(client, probes_do_not_beat):
    breakers.get("cache").force_open("test")
    response = client.get("/health/ready/")
    assert (response.status_code, response.json()["status"]) == (200, "degraded")
    assert "breaker:cache" in response.json()["degraded"]  # with Redis, the caches' own checks miss too

    readiness.reset()  # a new verdict, not the one reused for PORTAL_READINESS_CACHE_SECONDS
    breakers.get("database").force_open("test")
    try:
        response = client.get("/health/ready/")
    finally:
        breakers.get("database").reset("test")
    assert response.status_code == 503
    assert "breaker:database" in response.json()["failing"]


def test_the_health_detail_and_the_dashboard_name_every_breaker(client):
    trip(breakers.get("cache"))
    root = logged_in(superuser=True, username="root")
    checks = root.get("/health/", HTTP_ACCEPT="application/json").json()["checks"]
    assert (checks["breaker:database"]["status"], checks["breaker:database"]["critical"]) == (OK, True)
    assert (checks["breaker:cache"]["status"], checks["breaker:cache"]["critical"]) == ("degraded", False)
    assert re.fullmatch(
        r"Unavailable: open: calls fail at once, trial in \d+\.\d s", checks["breaker:cache"]["message"]
    )
    dashboard = root.get("/admin/").content.decode()
    tile = dashboard[dashboard.index('data-tile="breakers"') :][:1500]
    assert "failing" in tile
    assert "cache open" in tile


def test_times_ahead_read_as_in_so_long():
    now = timezone.now()
    assert [humanize.until(now + timedelta(seconds=s), now) for s in (0, 6.2, 125, 7300)] == [
        "now",
        "in 7 s",
        "in 2 min",
        "in 2 h",
    ]
    assert humanize.until(None) == humanize.DASH
