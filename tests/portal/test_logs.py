"""What production logs: a 500's traceback on stderr, warnings on one line, no line per load balancer probe."""

import io
import json
import logging
import os
import re
import subprocess
import sys
from datetime import datetime

import pytest
from django.core.management import call_command
from django.test import Client

from opsadmin.models import OpsRun
from opsadmin.runtime.heartbeat import record_heartbeat
from portal.accounts.tokens import issue_token
from portal.logs import OneLineBelowError, RequestContext, SkipProbeRequests
from portal.request_context import bound
from tests.helpers import OPERATORS, bearer, client_for, post_json, run_write, user_in

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REQUESTS = """
import django
django.setup()
from django.test import Client
client = Client(raise_request_exception=False, HTTP_HOST="localhost")
for _ in range(3):
    assert client.head("/health/ready/").status_code == 503  # the migrations check fails
assert client.get("/admin/login/").status_code == 500  # no static files collected, no tables: a real 500
assert client.get("/admin/login/", HTTP_HOST="forged.example").status_code == 400
"""


def served(tmp_path, requests, **env):
    """stderr of `requests` run in a fresh process on a database nobody migrated (DEBUG off unless `env` says)."""
    environment = {
        **os.environ,
        "DEBUG": "0",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'never-migrated.sqlite3'}",
        "SECRET_KEY": "x" * 50,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        **env,
    }
    for name in ("REDIS_URL", "PORTAL_LOG_FORMAT", "PORTAL_LOG_FILE"):
        if name not in env:
            environment.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-c", requests], cwd=REPO, env=environment, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_a_500_is_one_json_record_with_its_traceback_and_probes_log_no_line_each(tmp_path):
    """With DEBUG off, what the README's production steps would show: every line a JSON record."""
    stderr = served(tmp_path, REQUESTS)
    records = [json.loads(line) for line in stderr.splitlines()]  # every line parses
    (error,) = [r for r in records if r["logger"] == "django.request" and r["level"] == "ERROR"]
    assert error["message"] == "Internal Server Error: /admin/login/"
    assert error["traceback"].startswith("Traceback (most recent call last)")
    assert "Missing staticfiles manifest entry" in error["traceback"]  # the traceback ends with what went wrong
    (failed,) = [r for r in records if r["logger"] == "portal.request" and r["status"] == 500]
    assert error["request_id"] == failed["request_id"]  # the error and its request's line go together
    assert not [r for r in records if "/health/" in r["message"]]  # probes: no line each
    (forged,) = [r for r in records if "DisallowedHost" in r["message"]]  # one line, no traceback
    assert (forged["level"], forged["logger"]) == ("ERROR", "django.security.DisallowedHost")
    assert "traceback" not in forged
    assert sum("traceback" in r for r in records) == 1


def test_the_development_default_logs_lines_for_people(tmp_path):
    stderr = served(tmp_path, REQUESTS.replace("== 500", "== 200"), DEBUG="1")  # DEBUG serves static files itself
    (line,) = [line for line in stderr.splitlines() if "portal.request" in line and "GET /admin/login/ 200" in line]
    assert " INFO portal.request [pid " in line
    assert "(anonymous; " in line
    assert not [line for line in stderr.splitlines() if line.startswith("{")]


def test_the_log_file_is_rotated_when_asked_for(tmp_path):
    log = tmp_path / "portal.log"
    served(tmp_path, REQUESTS, PORTAL_LOG_FILE=str(log), PORTAL_LOG_FILE_MAX_BYTES="2000")
    assert (tmp_path / "portal.log.1").exists()  # the traceback alone is more than 2000 bytes
    assert all(json.loads(line) for line in log.read_text().splitlines())


def test_a_warning_with_an_exception_is_one_line():
    formatter = OneLineBelowError("%(levelname)s %(message)s")
    try:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379.\nConnection refused.")
    except ConnectionError:
        record = logging.LogRecord(
            "x", logging.WARNING, __file__, 1, "Redis down\nfor %s", ("default",), sys.exc_info()
        )
        error = logging.LogRecord("x", logging.ERROR, __file__, 1, "crashed", (), sys.exc_info())
    line = formatter.format(record)
    assert line == "WARNING Redis down | for default (ConnectionError: Error 111 connecting to 127.0.0.1:6379.)"
    assert "Traceback" in formatter.format(error)  # errors keep theirs
    assert record.exc_info is not None  # the record itself is untouched, for other handlers


def test_the_development_servers_probe_lines_are_dropped():
    probes = SkipProbeRequests()

    def served(request_line):
        return logging.LogRecord(
            "django.server", logging.INFO, __file__, 1, '"%s" %s %s', (request_line, "200", "16"), None
        )

    assert not probes.filter(served("HEAD /health/ready/ HTTP/1.1"))
    assert not probes.filter(served("GET /health/live/?lb=1 HTTP/1.1"))
    assert probes.filter(served("GET /admin/ HTTP/1.1"))


# --- In this process: the request line, the request id, and a queued run's worker lines ---------------------------


@pytest.fixture
def json_lines():
    """What the settings' stderr handler writes while the test runs: its formatter and filters, into a buffer."""
    configured = logging.getHandlerByName("stderr")
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(configured.formatter)
    for log_filter in configured.filters:
        handler.addFilter(log_filter)
    logging.getLogger().addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    finally:
        logging.getLogger().removeHandler(handler)


def request_lines(records):
    return [record for record in records if record["logger"] == "portal.request"]


REQUEST_FIELDS = {
    "time",
    "level",
    "request_id",
    "method",
    "path",
    "route",
    "status",
    "duration_ms",
    "user",
    "token",
    "client",
    "db_queries",
    "db_ms",
    "cache_hits",
    "cache_misses",
}


@pytest.mark.django_db
def test_a_requests_line_is_json_with_every_field(json_lines):
    _, token = issue_token(user_in(OPERATORS, username="ops-1"), "deploy")
    response = Client().get("/api/ops/runs/", HTTP_X_REQUEST_ID="req-1", **bearer(token))
    assert response.status_code == 200
    (line,) = request_lines(json_lines())
    assert not REQUEST_FIELDS - set(line)
    assert line["request_id"] == "req-1"
    assert (line["level"], line["method"], line["path"], line["route"]) == (
        "INFO",
        "GET",
        "/api/ops/runs/",
        "api/ops/runs/",
    )
    assert (line["status"], line["user"], line["token"]) == (200, "ops-1", token.partition(".")[0])
    assert line["client"] == "127.0.0.1"
    assert line["db_queries"] >= 1  # the token, the runs
    assert line["duration_ms"] >= line["db_ms"] >= 0
    assert datetime.fromisoformat(line["time"]).tzinfo is not None


@pytest.mark.django_db
def test_the_client_address_is_the_one_our_proxy_appended(json_lines, settings):
    settings.PORTAL_BEHIND_PROXY = True
    Client().get("/nowhere/", HTTP_X_FORWARDED_FOR="10.9.9.9, 203.0.113.7", REMOTE_ADDR="10.0.0.2")
    (line,) = request_lines(json_lines())
    assert (line["client"], line["status"], line["route"], line["user"]) == ("203.0.113.7", 404, None, None)


@pytest.mark.django_db
def test_a_session_users_name_is_logged_once_the_request_loaded_it(json_lines):
    client = client_for(user_in(OPERATORS, username="ops-2"))
    client.get("/admin/")
    (line,) = request_lines(json_lines())
    assert (line["user"], line["token"], line["status"]) == ("ops-2", None, 200)


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("abc-DEF_1.2", True), ("x" * 128, True), ("x" * 129, False), ("has space", False), ("", False), ("é", False)],
)
@pytest.mark.django_db
def test_a_well_formed_x_request_id_is_kept_any_other_replaced_and_either_echoed(json_lines, sent, kept):
    response = Client().get("/nowhere/", HTTP_X_REQUEST_ID=sent)
    echoed = response["X-Request-ID"]
    assert (echoed == sent) is kept
    if not kept:
        assert len(echoed) == 32
        assert int(echoed, 16) >= 0  # a uuid4 in hex
    records = json_lines()
    assert {record["request_id"] for record in records} == {echoed}  # the line and django.request's 404 warning


@pytest.mark.django_db
def test_probes_leave_no_line(json_lines):
    for path in ("/health/live/", "/health/ready/"):
        Client().get(path)
    assert request_lines(json_lines()) == []


@pytest.mark.django_db(transaction=True)
def test_the_request_id_travels_to_the_run_it_queued_and_the_workers_lines_for_it(json_lines):
    # a superuser: a flushing test before this one may have emptied the groups' permissions
    superuser = user_in(superuser=True)
    _, token = issue_token(superuser, "deploy")
    response = post_json(
        Client(), "/api/ops/optimize/indexes/", {"dry_run": True}, HTTP_X_REQUEST_ID="trace-42", **bearer(token)
    )
    assert response.status_code in (200, 202), response.content
    run = OpsRun.objects.get(operation="optimize_database")
    assert (run.status, run.request_id) == (OpsRun.Status.QUEUED, "trace-42")
    call_command("ops_worker", "--batch", stdout=io.StringIO(), stderr=io.StringIO())
    run.refresh_from_db()
    assert run.finished_at is not None
    worker = [record for record in json_lines() if record["logger"] == "opsadmin.spine.runs"]
    assert [record["message"] for record in worker] == [
        f"ops run {run.pk} (optimize_database) started",
        f"ops run {run.pk} (optimize_database) {run.status}",
    ]
    assert {record["request_id"] for record in worker} == {"trace-42"}
    assert {record["run"] for record in worker} == {run.pk}
    # Whoever reads the run finds the id to look its lines up by: in the API's answer and on its page.
    assert Client().get(f"/api/ops/runs/{run.pk}/", **bearer(token)).json()["request_id"] == "trace-42"
    page = client_for(superuser).get(f"/admin/opsadmin/opsrun/{run.pk}/change/")
    assert re.search(r'<code id="run-request-id"[^>]*>trace-42</code>', page.text)


@pytest.mark.django_db
def test_a_run_asked_for_outside_a_request_has_no_request_id():
    record_heartbeat("web1", "8000", force=True)
    run = run_write("drain", {"instances": ["web1:8000"], "action": "drain"})
    assert run.request_id == ""


def test_outside_a_request_records_carry_no_request_id():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None)
    assert RequestContext().filter(record)
    assert record.request_id is None
    with bound("job-7"):
        inside = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None)
        RequestContext().filter(inside)
    assert inside.request_id == "job-7"
