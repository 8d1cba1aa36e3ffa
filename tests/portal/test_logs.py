"""What production logs: a 500's traceback on stderr, warnings on one line, no line per load balancer probe."""

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


def test_a_500_logs_its_traceback_on_stderr_and_probes_log_no_line_each(tmp_path):
    """On a database nobody migrated, with DEBUG off: what the README's production steps would show."""
    environment = {
        **os.environ,
        "DEBUG": "0",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'never-migrated.sqlite3'}",
        "SECRET_KEY": "x" * 50,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }
    environment.pop("REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", REQUESTS], cwd=REPO, env=environment, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    errors = [line for line in done.stderr.splitlines() if " ERROR django.request " in line]
    assert len(errors) == 1, done.stderr
    assert "Internal Server Error: /admin/login/" in errors[0]
    assert "Traceback (most recent call last)" in done.stderr
    assert "Missing staticfiles manifest entry" in done.stderr  # the traceback ends with what went wrong
    assert "/health/ready/" not in "\n".join(line for line in done.stderr.splitlines() if "django.request" in line)
    (forged,) = [line for line in done.stderr.splitlines() if "DisallowedHost" in line]  # one line, no traceback
    assert "ERROR django.security.DisallowedHost" in forged
    assert done.stderr.count("Traceback (most recent call last)") == 1


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
