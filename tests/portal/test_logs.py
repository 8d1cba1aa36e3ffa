"""What production logs: a 500's traceback on stderr, warnings on one line, no line per load balancer probe."""

import json
import logging
import os
import subprocess
import sys

from portal.logs import OneLineBelowError, SkipProbeRequests

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
