"""Each door while the database is out: pages and the API answer 503 at once, the command line says so in one
line and exits 1, the probes still answer; and all of it works again once the breaker closes, with no restart."""

import json
import os
import subprocess
import sys
import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from opsadmin.models import OpsRun
from portal.accounts.tokens import issue_token
from tests.helpers import bearer, client_for, post_json, user_in
from tests.services import REPO

pytestmark = pytest.mark.postgres

OUT = {"error": "database unavailable: circuit breaker open", "breaker": "database", "retry_after": 1}


@pytest.fixture
def out(db, breaker):
    """Opens the database's breaker when called; it is closed again before the test's transaction ends."""
    return lambda: breaker.force_open("test")


def test_pages_and_the_api_answer_503_at_once_and_work_again_when_the_breaker_closes(out, breaker, caplog):
    admin = user_in(superuser=True)
    browser = client_for(admin)
    _, token = issue_token(admin, "deploy")
    api = Client(**bearer(token))
    assert browser.get("/admin/").status_code == 200
    runs = OpsRun.objects.count()  # issuing the token is one
    out()

    started = time.monotonic()
    page = browser.get("/admin/")
    read = api.get("/api/ops/status/")
    write = post_json(api, "/api/ops/database/optimize_database/", {"dry_run": True})
    assert time.monotonic() - started < 0.5
    assert (page.status_code, page["Retry-After"]) == (503, "1")
    assert "Temporarily unavailable" in page.content.decode()
    for answer in (read, write):
        assert (answer.status_code, answer["Retry-After"]) == (503, "1")
        assert json.loads(answer.content) == OUT
    assert not [record for record in caplog.records if record.name in ("django.request", "opsadmin.api.views")]

    breaker.reset("test")
    assert OpsRun.objects.count() == runs  # the write was refused before anything was recorded or done
    assert browser.get("/admin/").status_code == 200
    assert post_json(api, "/api/ops/database/optimize_database/", {"dry_run": True}).status_code == 202  # queued


def test_ops_commands_exit_1_with_one_line(out):
    out()
    for command in (("ops", "run", "optimize_database", "--dry-run"), ("optimize_database", "--dry-run")):
        with pytest.raises(CommandError) as refused:
            call_command(*command, stdout=StringIO())
        assert refused.value.returncode == 1
        assert str(refused.value) == "database unavailable: circuit breaker open, retry in 1 s"


def test_the_probes_still_answer_and_readiness_names_the_database(out):
    out()
    client = Client()
    started = time.monotonic()
    live, ready = client.get("/health/live/"), client.get("/health/ready/")
    assert time.monotonic() - started < 0.5
    assert live.status_code == 200
    assert (ready.status_code, ready["Retry-After"]) == (503, "2")  # when the verdict is next computed
    assert "database" in json.loads(ready.content)["failing"]


def test_a_command_on_a_stopped_server_prints_one_line_and_exits_1(server):
    """A real outage, in a process of its own: its connects are refused, and it says so without a traceback."""
    server.stop()
    try:
        environment = {**os.environ, "DATABASE_URL": server, "PORTAL_DB_COMMAND_CONNECT_ATTEMPTS": "2"}
        environment.pop("REDIS_URL", None)
        done = subprocess.run(
            [sys.executable, "manage.py", "ops", "run", "optimize_database", "--dry-run"],
            cwd=REPO,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        server.start()
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("CommandError: database unavailable: OperationalError: Connection refused")
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
