"""Health: each check failing for real, the readiness contract (1 s bound, caching, degraded
vs unavailable, critical by setting, warnings), liveness skipping the middleware, and who
may read the detail.

Dependencies fail for real here: a throwaway Redis that is then stopped, a local TCP
listener that accepts connections and never answers (in place of PostgreSQL and of
Redis), a database whose connections fail, an app with a migration never applied.
"""

import contextlib
import dataclasses
import json
import logging
import socket
import threading
import time
from datetime import timedelta
from types import SimpleNamespace

import health_check.checks
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.sessions.middleware import SessionMiddleware
from django.db import OperationalError, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.db.utils import load_backend
from django.test import RequestFactory, override_settings
from django.urls import reverse
from django.utils import timezone
from health_check import HealthCheck
from health_check.exceptions import ServiceUnavailable, ServiceWarning

from opsadmin.health import checks as health_checks
from opsadmin.health import views
from opsadmin.health.checks import Migrations, NamedCheck, Redis, TaskWorker, configured_checks
from opsadmin.health.readiness import READINESS_EXECUTOR, readiness, run_pooled
from opsadmin.spine import registry
from portal import shutting_down
from portal.accounts.models import ApiToken
from portal.accounts.tokens import issue_token, revoke_tokens
from tests.helpers import OPERATORS, VIEWERS, bearer
from tests.services import redis_unavailable, skip_or_fail, throwaway_redis

pytestmark = pytest.mark.django_db

BOUND = 1.5  # seconds: the 1 s contract, with a margin for a loaded test machine
THIS = "tests.opsadmin.test_health"
HOST = socket.gethostname()
REDIS = "opsadmin.health.checks.Redis"


# --- Check classes for the tests (dotted paths into this module) -----------------------


@dataclasses.dataclass
class Fails(HealthCheck):
    def run(self):
        raise ServiceUnavailable("secret-host.internal:5432 refused")


@dataclasses.dataclass
class Warns(HealthCheck):
    def run(self):
        raise ServiceWarning("97 % disk usage")


@dataclasses.dataclass
class Counting(HealthCheck):
    """Counts its runs; `seconds` of work each."""

    runs = 0
    lock = threading.Lock()
    seconds: float = 0.0

    def run(self):
        with Counting.lock:
            Counting.runs += 1
        time.sleep(self.seconds)


@dataclasses.dataclass
class Blocks(HealthCheck):
    """A sync check stuck until the test ends (a thread nobody can kill)."""

    started = 0
    release = threading.Event()

    def run(self):
        Blocks.started += 1
        Blocks.release.wait(30)


def entry(name, check, critical=False, **kwargs):
    return (name, f"{THIS}.{check}" if "." not in check else check, kwargs, critical)


class ExactChecks:
    """Readiness over exactly these checks (none of the capabilities'), without caching unless asked.

    A context manager that can be entered again, as override_settings can.
    """

    def __init__(self, entries, cache_seconds, more):
        self.settings = override_settings(
            PORTAL_HEALTH_CHECKS=list(entries), PORTAL_READINESS_CACHE_SECONDS=cache_seconds, **more
        )

    def __enter__(self):
        self.settings.enable()
        self.patch = pytest.MonkeyPatch()
        self.patch.setattr(registry, "health_checks", list)

    def __exit__(self, *exc_info):
        self.patch.undo()
        self.settings.disable()


def checks(*entries, cache_seconds=0, **more):
    return ExactChecks(entries, cache_seconds, more)


# --- Fixtures ------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def runtime(monkeypatch):
    """The instance's drain state and the task worker's heartbeat, as the test sets them."""
    from opsadmin.health import readiness as readiness_module
    from opsadmin.runtime import drain, fleet

    state = SimpleNamespace(draining=False, worker_seen=timezone.now(), beats=[])
    monkeypatch.setattr(drain, "current_instance_is_draining", lambda: state.draining)
    monkeypatch.setattr(fleet, "task_worker_last_seen", lambda: state.worker_seen)
    # Readiness probes beat from a pool thread; a real beat would commit rows outside the test's transaction.
    monkeypatch.setattr(readiness_module, "beat_as_web_process", lambda: state.beats.append("web"))
    readiness.reset()
    Counting.runs = Blocks.started = 0
    Blocks.release.clear()
    yield state
    Blocks.release.set()
    readiness.reset()


@pytest.fixture
def hanging(hanging):
    """The root fixture's hung listener; a check stuck on it is released when the test ends."""
    yield hanging
    Blocks.release.set()


class DatabasesWithExtras:
    """`connections` as the checks see it, plus aliases that only the checks know.

    The test framework refuses threaded connections to aliases of Django's own handler
    that the test did not declare; a connection made outside the handler is allowed.
    """

    def __init__(self, extra):
        self.extra = extra

    def __getitem__(self, alias):
        if alias in self.extra:
            settings_dict = self.extra[alias]
            return load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, alias)
        return connections[alias]

    def close_all(self):
        """What a check's thread does when it ends: the extras are new wrappers each time, nothing to close."""
        connections.close_all()


@contextlib.contextmanager
def postgres_alias(alias, port, connect_timeout=10):
    """A database alias for PostgreSQL at 127.0.0.1:`port` (e.g. the hanging listener), seen by the checks."""
    settings_dict = {
        **connections.settings["default"],
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "portal",
        "USER": "portal",
        "PASSWORD": "",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "OPTIONS": {"connect_timeout": connect_timeout},
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False,
    }
    with pytest.MonkeyPatch.context() as patch:
        databases = DatabasesWithExtras({alias: settings_dict})
        patch.setattr(health_check.checks, "connections", databases)  # the library's Database check
        patch.setattr(health_checks, "connections", databases)  # our Migrations check
        yield alias


def get_ready(client, **headers):
    start = time.monotonic()
    response = client.get("/health/ready/", **headers)
    return response, time.monotonic() - start


def run_one(name, check, critical=False, budget=0.5):
    """One check, run as readiness runs it: in a pool thread."""
    named = NamedCheck(name=name, inner=check, critical=critical, budget=budget, key=(name,))
    return READINESS_EXECUTOR.submit(run_pooled, named).result()


# --- Each check failing for real -----------------------------------------------------


def test_default_check_list_names():
    names = [check.name for check in configured_checks()]
    assert names[:3] == ["database", "migrations", "draining"]
    assert {"cache:default", "disk", "memory", "task_worker", "breaker:database", "breaker:cache"} <= set(names)
    assert ("redis" in names) == bool(settings.REDIS_URL)
    critical = {check.name for check in configured_checks() if check.critical}
    assert critical == {"database", "migrations", "draining", "breaker:database"}


def test_all_default_checks_pass_here(client):
    response, _ = get_ready(client)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_redis_check_fails_once_redis_is_stopped(client):
    if reason := redis_unavailable():
        skip_or_fail(reason)
    with throwaway_redis() as url:
        redis_checks = checks(entry("database", "health_check.checks.Database", True), entry("redis", REDIS, url=url))
        assert run_one("redis", Redis(url=url)).error is None
        with redis_checks:
            assert get_ready(client)[0].json() == {"status": "ok"}
    # Stopped: nothing listens on its port any more.
    result = run_one("redis", Redis(url=url))
    assert isinstance(result.error, ServiceUnavailable)
    with redis_checks:
        response, elapsed = get_ready(client)
    assert (response.status_code, response.json()) == (200, {"status": "degraded", "degraded": ["redis"]})
    assert elapsed < BOUND


def test_cache_on_a_stopped_redis_degrades(client):
    if reason := redis_unavailable():
        skip_or_fail(reason)
    with throwaway_redis() as url:
        shared = {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": url}
        shared["OPTIONS"] = {"SOCKET_CONNECT_TIMEOUT": 0.3, "SOCKET_TIMEOUT": 0.3}
        caches = {**settings.CACHES, "shared": shared}
        with (
            override_settings(CACHES=caches),
            checks(entry("cache:shared", "health_check.checks.Cache", alias="shared")),
        ):
            assert get_ready(client)[0].json() == {"status": "ok"}
    with override_settings(CACHES=caches), checks(entry("cache:shared", "health_check.checks.Cache", alias="shared")):
        response, elapsed = get_ready(client)
    assert response.json() == {"status": "degraded", "degraded": ["cache:shared"]}
    assert elapsed < BOUND


def test_redis_that_accepts_and_never_answers(client, hanging):
    url = f"redis://127.0.0.1:{hanging.port}/0"
    start = time.monotonic()
    result = run_one("redis", Redis(url=url, socket_timeout=0.3))
    assert isinstance(result.error, ServiceUnavailable)
    assert time.monotonic() - start < BOUND
    with checks(
        entry("database", "health_check.checks.Database", True),
        entry("redis", REDIS, url=url, socket_timeout=5),  # its own timeout is no help
    ):
        response, elapsed = get_ready(client)
    assert (response.status_code, response.json()) == (200, {"status": "degraded", "degraded": ["redis"]})
    assert elapsed < BOUND


def test_postgresql_that_accepts_and_never_answers(client, hanging, caplog):
    with (
        postgres_alias("hanging", hanging.port, connect_timeout=10),
        checks(
            entry("database", "health_check.checks.Database", True, alias="hanging"),
            entry("migrations", "opsadmin.health.checks.Migrations", True, alias="hanging"),
        ),
    ):
        response, elapsed = get_ready(client)
        assert (response.status_code, response.json()) == (
            503,
            {"status": "unavailable", "failing": ["database", "migrations"]},
        )
        assert elapsed < BOUND
        assert len(hanging.accepted) >= 1  # really connected, and got stuck
        # The next period answers as fast. A check still stuck is not started again, so each period adds at
        # most one connection per check (on PostgreSQL's pass the threads give up at their budget and do).
        accepted = len(hanging.accepted)
        response, elapsed = get_ready(client)
        assert response.status_code == 503
        assert elapsed < BOUND
        assert len(hanging.accepted) <= accepted + 2
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]  # an answer, not a crash


def test_database_refusing_connections(client, monkeypatch):
    def refuse(self):
        raise OperationalError("connection to server at 10.0.0.7 refused")

    monkeypatch.setattr(BaseDatabaseWrapper, "ensure_connection", refuse)
    response, elapsed = get_ready(client)
    assert response.status_code == 503
    assert response.json()["failing"][:2] == ["database", "migrations"]
    assert b"10.0.0.7" not in response.content
    assert elapsed < BOUND


def test_an_app_migrated_backwards():
    recorder = MigrationRecorder(connection)
    app, latest = MigrationLoader(connection).graph.leaf_nodes("opsadmin")[0]
    recorder.record_unapplied(app, latest)  # what `migrate opsadmin <previous>` records; rolled back with the test
    with pytest.raises(ServiceUnavailable, match=rf"1 unapplied: opsadmin\.{latest}"):
        Migrations().run()


def test_a_hole_in_the_migration_history():
    MigrationRecorder(connection).record_unapplied("opsadmin", "0002_ops_groups")
    with pytest.raises(ServiceUnavailable, match=r"1 unapplied: opsadmin\.0002_ops_groups"):
        Migrations().run()


@pytest.fixture
def app_with_pending_migration(tmp_path, monkeypatch):
    """An installed app whose one migration was never applied (the code is newer than the schema)."""
    package = tmp_path / "pending_health_app"
    (package / "migrations").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "migrations" / "__init__.py").write_text("")
    (package / "migrations" / "0001_initial.py").write_text(
        "from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n    operations = []\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, "pending_health_app"]):
        yield


def test_pending_migration_makes_the_instance_unready(client, app_with_pending_migration):
    response, _ = get_ready(client)
    assert (response.status_code, response.json()) == (503, {"status": "unavailable", "failing": ["migrations"]})
    with pytest.raises(ServiceUnavailable, match=r"pending_health_app\.0001_initial"):
        Migrations().run()


def test_draining_makes_the_instance_unready(client, runtime):
    runtime.draining = True
    response, _ = get_ready(client)
    assert (response.status_code, response.json()) == (503, {"status": "unavailable", "failing": ["draining"]})


def test_a_shutdown_makes_the_next_probe_unready_though_a_ready_verdict_was_cached(client, settings, caplog):
    settings.PORTAL_READINESS_CACHE_SECONDS = 60
    assert get_ready(client)[0].status_code == 200

    shutting_down.announce()
    response, _ = get_ready(client, HTTP_ACCEPT="text/plain")

    assert (response.status_code, response.content) == (503, b"unavailable: draining\n")
    assert "draining: Unavailable: shutting down" in caplog.text
    assert get_ready(client)[0].json() == {"status": "unavailable", "failing": ["draining"]}
    assert client.get("/health/live/").status_code == 200  # alive all the while: nothing restarts it


def test_an_unknown_drain_state_is_not_ready(client, monkeypatch):
    from opsadmin.runtime import drain, fleet

    def database_down():
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(drain, "current_instance_is_draining", database_down)
    monkeypatch.setattr(fleet, "task_worker_last_seen", database_down)
    response, _ = get_ready(client)
    assert (response.status_code, response.json()) == (503, {"status": "unavailable", "failing": ["draining"]})
    result = run_one("task_worker", TaskWorker())
    assert isinstance(result.error, ServiceWarning)  # unknown, and not critical: a warning


def test_a_readiness_probe_beats_so_a_probe_only_process_knows_its_instance(client, runtime):
    client.get("/health/live/")
    assert runtime.beats == []
    client.get("/health/ready/")
    assert runtime.beats == ["web"]


def test_draining_is_critical_even_when_configured_otherwise(client, runtime):
    runtime.draining = True
    with checks(entry("draining", "opsadmin.health.checks.Draining", critical=False)):
        assert get_ready(client)[0].status_code == 503


@pytest.mark.parametrize(
    ("seen_ago", "warns"), [(None, True), (timedelta(minutes=5), True), (timedelta(seconds=5), False)]
)
def test_task_worker_heartbeat_warns_when_missing_or_old(client, runtime, seen_ago, warns):
    runtime.worker_seen = None if seen_ago is None else timezone.now() - seen_ago
    result = run_one("task_worker", TaskWorker(max_age_seconds=60))
    assert isinstance(result.error, ServiceWarning) if warns else result.error is None
    assert get_ready(client)[0].json() == {"status": "ok"}  # a warning never fails readiness


@pytest.mark.parametrize(
    ("name", "path", "kwargs"),
    [
        ("disk", "health_check.contrib.psutil.Disk", {"max_disk_usage_percent": 0.001}),
        ("memory", "health_check.contrib.psutil.Memory", {"max_memory_usage_percent": 0.001}),
    ],
)
def test_disk_and_memory_warnings_show_in_the_detail_only(client, viewer_client, name, path, kwargs):
    with checks(entry("database", "health_check.checks.Database", True), entry(name, path, **kwargs)):
        response, _ = get_ready(client)
        assert (response.status_code, response.json()) == (200, {"status": "ok"})
        detail = viewer_client.get("/health/", HTTP_ACCEPT="application/json")
    assert detail.status_code == 200
    assert detail.json()["warnings"] == [name]
    assert detail.json()["checks"][name]["status"] == "warning"
    assert detail.json()["checks"][name]["message"].startswith("Warning: ")


# --- The readiness contract ----------------------------------------------------------


def test_degraded_versus_unavailable(client):
    with checks(entry("database", "health_check.checks.Database", True), entry("search", "Fails")):
        response, _ = get_ready(client)
    assert (response.status_code, response.json()) == (200, {"status": "degraded", "degraded": ["search"]})
    with checks(entry("database", "Fails", True), entry("search", "Fails")):
        response, _ = get_ready(client)
    assert (response.status_code, response.json()) == (503, {"status": "unavailable", "failing": ["database"]})
    assert b"secret-host" not in response.content


def test_a_setting_makes_any_check_critical(client):
    with checks(entry("redis", "Fails"), entry("cache:default", "Warns"), PORTAL_CRITICAL_CHECKS=["redis"]):
        response, _ = get_ready(client)
    assert (response.status_code, response.json()) == (503, {"status": "unavailable", "failing": ["redis"]})
    with checks(entry("redis", "Fails")):
        assert get_ready(client)[0].status_code == 200


def test_the_answer_comes_within_a_second_whatever_the_checks_do(client, hanging):
    with (
        postgres_alias("hanging", hanging.port),
        checks(
            entry("database", "health_check.checks.Database", True, alias="hanging"),
            entry("redis", REDIS, url=f"redis://127.0.0.1:{hanging.port}/0", socket_timeout=30),
            entry("stuck", "Blocks", True),
            entry("slow", "Counting", seconds=3),
            entry("disk", "health_check.contrib.psutil.Disk"),
        ),
    ):
        for _ in range(3):
            response, elapsed = get_ready(client)
            assert elapsed < BOUND
            assert response.status_code == 503
            assert set(response.json()["failing"]) == {"database", "stuck"}
    assert Blocks.started == 1  # one stuck thread, not one per request


def test_a_check_over_its_budget_is_failing_even_if_it_finishes(client):
    with checks(entry("database", "Counting", True, seconds=0.2), PORTAL_HEALTH_CHECK_TIMEOUT=0.1):
        response, elapsed = get_ready(client)
    assert (response.status_code, response.json()) == (503, {"status": "unavailable", "failing": ["database"]})
    assert elapsed < 0.5


def test_concurrent_probers_share_one_run_and_the_result_is_cached():
    factory = RequestFactory()
    responses = []

    def probe():
        responses.append(views.ready(factory.get("/health/ready/")))

    runs_before = readiness.runs
    with checks(entry("slow", "Counting", True, seconds=0.2), cache_seconds=60):
        threads = [threading.Thread(target=probe) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for _ in range(10):
            probe()
    assert [response.status_code for response in responses] == [200] * 30
    assert Counting.runs == 1
    assert readiness.runs == runs_before + 1


def test_the_cache_expires(client):
    with checks(entry("quick", "Counting", True), cache_seconds=0.3):
        for _ in range(5):
            client.get("/health/ready/")
        assert Counting.runs == 1
        time.sleep(0.35)
        client.get("/health/ready/")
        assert Counting.runs == 2


def test_readiness_headers_and_body(client):
    response, _ = get_ready(client)
    assert response["Cache-Control"] == "no-store"
    assert response["Content-Type"] == "application/json"
    assert response.content == b'{"status": "ok"}'
    assert response["Content-Length"] == "16"
    assert "Set-Cookie" not in response.headers
    assert "X-Frame-Options" not in response.headers


def test_readiness_in_text_for_the_health_check_command(client, runtime):
    response, _ = get_ready(client, HTTP_ACCEPT="text/plain")
    assert response.content == b"ok\n"
    runtime.draining = True
    readiness.reset()
    response, _ = get_ready(client, HTTP_ACCEPT="text/plain")
    assert (response.status_code, response.content) == (503, b"unavailable: draining\n")


def test_named_routes():
    assert reverse("health_live") == "/health/live/"
    assert reverse("health_ready") == "/health/ready/"
    assert reverse("health_detail") == "/health/"


def test_health_check_command_without_a_server(capsys):
    from django.core.management import call_command

    with checks(entry("database", "health_check.checks.Database", True)), pytest.raises(SystemExit) as exit_info:
        call_command("health_check", "health_ready", "--no-http")
    assert exit_info.value.code == 0
    assert "database: OK" in capsys.readouterr().out


# --- Liveness ------------------------------------------------------------------------


@pytest.fixture
def session_middleware_calls(monkeypatch):
    calls = []
    original = SessionMiddleware.process_request

    def spy(self, request):
        calls.append(request.path)
        return original(self, request)

    monkeypatch.setattr(SessionMiddleware, "process_request", spy)
    return calls


def test_live_is_tiny_and_skips_the_other_middleware(client, session_middleware_calls):
    response = client.get("/health/live/")
    assert response.status_code == 200
    assert response.content == b'{"status": "ok"}'
    assert response["Cache-Control"] == "no-store"
    for header in ("Set-Cookie", "Vary", "X-Frame-Options", "X-Content-Type-Options"):
        assert header not in response.headers
    client.get("/health/ready/")
    assert session_middleware_calls == []
    client.get("/health/")  # any other path goes through the whole stack
    assert session_middleware_calls == ["/health/"]


def test_live_needs_no_database(client, monkeypatch):
    def broken(self):
        raise OperationalError("database is down")

    monkeypatch.setattr(BaseDatabaseWrapper, "ensure_connection", broken)
    assert client.get("/health/live/").status_code == 200


def test_probes_only_answer_get_and_head(client):
    assert client.head("/health/live/").status_code == 200
    assert client.head("/health/ready/").status_code == 200
    assert client.post("/health/live/").status_code == 405
    assert client.post("/health/ready/").status_code == 405


# --- The detail: who may read it -----------------------------------------------------


@pytest.fixture
def users():
    User = get_user_model()
    made = SimpleNamespace(
        member=User.objects.create_user("member"),
        staff=User.objects.create_user("staff", is_staff=True),
        viewer=User.objects.create_user("viewer", is_staff=True),
        operator=User.objects.create_user("operator", is_staff=True),
        admin=User.objects.create_superuser("admin"),
    )
    made.member.user_permissions.add(Permission.objects.get(codename="view_ops"))  # not staff: still refused
    made.viewer.groups.add(Group.objects.get(name=VIEWERS))
    made.operator.groups.add(Group.objects.get(name=OPERATORS))
    return made


@pytest.fixture
def viewer_client(client, users):
    client.force_login(users.viewer)
    return client


def detail(client, token=None, **headers):
    return client.get("/health/", HTTP_ACCEPT="application/json", **(bearer(token) if token else {}), **headers)


@pytest.mark.parametrize(
    ("who", "status"),
    [("anonymous", 401), ("member", 403), ("staff", 403), ("viewer", 200), ("operator", 200), ("admin", 200)],
)
def test_detail_by_session(client, users, who, status):
    if who != "anonymous":
        client.force_login(getattr(users, who))
    response = detail(client)
    assert response.status_code == status
    assert_small_refusal(response, status)


@pytest.mark.parametrize(
    ("owner", "state", "status"),
    [
        ("viewer", "valid", 200),
        ("member", "valid", 403),  # an ops token acts only while its user is staff, whatever the permissions
        ("staff", "valid", 403),
        ("viewer", "revoked", 401),
        ("viewer", "expired", 401),
        ("viewer", "unknown", 401),
    ],
)
def test_detail_by_token(client, users, owner, state, status):
    record, token = issue_token(getattr(users, owner), "monitoring")
    if state == "revoked":
        revoke_tokens(ApiToken.objects.filter(pk=record.pk))
    elif state == "expired":
        ApiToken.objects.filter(pk=record.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif state == "unknown":
        token = f"{record.prefix}.not-the-secret"
    response = detail(client, token)
    assert response.status_code == status
    assert_small_refusal(response, status)


def test_detail_refuses_a_malformed_authorization_header(client):
    response = client.get("/health/", HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")
    assert response.status_code == 401
    assert_small_refusal(response, 401)


def assert_small_refusal(response, status):
    if status == 200:
        return
    assert len(response.content) < 80
    body = response.content.decode()
    assert json.loads(body) in (
        {"error": "authentication required"},
        {"error": "invalid token"},
        {"error": "staff only"},
        {"error": "permission required", "permission": "opsadmin.view_ops"},
    )
    assert socket.gethostname() not in body
    assert "no-store" in response["Cache-Control"]


def test_detail_shows_every_check_with_status_message_and_timing(viewer_client):
    with checks(
        entry("database", "health_check.checks.Database", True),
        entry("search", "Fails"),
        entry("disk", "Warns"),
    ):
        response = detail(viewer_client)
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["degraded"], body["warnings"]) == ("degraded", ["search"], ["disk"])
    assert list(body["checks"]) == ["database", "search", "disk"]
    assert body["checks"]["database"] == {
        "status": "ok",
        "critical": True,
        "message": "",  # the one representation of a check: no message when all is well
        "seconds": body["checks"]["database"]["seconds"],
    }
    assert body["checks"]["search"]["message"] == "Unavailable: secret-host.internal:5432 refused"
    assert all(isinstance(check["seconds"], float) for check in body["checks"].values())


def test_detail_is_503_when_a_critical_check_fails(viewer_client):
    with checks(entry("database", "Fails", True)):
        response = detail(viewer_client)
    assert response.status_code == 503
    assert response.json()["failing"] == ["database"]


def test_detail_json_by_default_html_and_text_when_asked(viewer_client):
    plain = viewer_client.get("/health/")  # as curl asks: */*
    assert plain["Content-Type"] == "application/json"
    assert "database" in plain.json()["checks"]
    html = viewer_client.get("/health/", HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")  # a browser
    assert html.status_code == 200
    assert html["Content-Type"].startswith("text/html")
    assert b"cache:default" in html.content
    assert b"task_worker" in html.content
    text = viewer_client.get("/health/", HTTP_ACCEPT="text/plain").content.decode()
    assert "database: OK" in text
    assert "migrations: OK" in text
