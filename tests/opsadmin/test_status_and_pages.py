"""system_status on its doors, the ops pages' permissions, queued runs on the task worker, tokens in the admin."""

import contextlib
import json
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from opsadmin.models import Instance, InstanceWorker, OpsRun
from opsadmin.runtime import identity
from opsadmin.runtime.heartbeat import TASK, TASK_WORKER_PORT, record_heartbeat
from opsadmin.runtime.identity import HOST
from opsadmin.spine import targets
from portal.accounts.models import ApiToken
from portal.accounts.tokens import check_token, issue_token
from tests.helpers import OPERATORS, VIEWERS, bearer, client_for, run_write, user_in

pytestmark = pytest.mark.django_db
EVERY_SECTION = {
    "health",
    "instances",
    "breakers",
    "memory",
    "database",
    "database_risks",
    "activity",
    "caches",
    "runs",
    "security",
    "rate_limits",
    "alerts",
}


def test_status_command_reports_every_section():
    record_heartbeat("web1", "8000", force=True)
    record_heartbeat("web1", TASK_WORKER_PORT, TASK, force=True)
    identity.reset()  # a command is no serving instance: its readiness must not look for one
    out = StringIO()
    with contextlib.suppress(CommandError):  # exit 1 when disk or memory is nearly full, or security fails (no HTTPS)
        call_command("system_status", "--json", stdout=out)
    status = json.loads(out.getvalue())
    assert set(status["sections"]) == EVERY_SECTION
    health = status["sections"]["health"]
    assert {"status", "ok", "headline", "detail", "lines", "data"} <= set(health)
    names = {check["name"] for check in health["data"]["checks"]}
    assert {"database", "migrations", "draining", "indexes"} <= names
    assert status["sections"]["instances"]["data"]["serving"] >= 1
    assert status["sections"]["database"] | {"data": None} == {
        "status": "ok",
        "ok": True,
        "headline": "indexes ok",
        "detail": "every declared index is present and valid",
        "lines": [],
        "data": None,
    }


def status_command():
    """(exit code, output) of `system_status`."""
    out = StringIO()
    try:
        call_command("system_status", stdout=out)
    except CommandError as error:
        return error.returncode, out.getvalue() + str(error)
    return 0, out.getvalue()


def test_status_command_shows_past_failures_and_fails_for_work_nobody_will_take():
    OpsRun.objects.create(operation="drain", door="cli", actor="cli", status=OpsRun.Status.FAILED)
    _, shown = status_command()
    assert "Audit log: ok — nothing waiting (0 running; in the last 24 h: 1 failed)" in shown
    assert "runs" not in shown.rpartition("not ok:")[2]  # over: shown, not alarmed on

    OpsRun.objects.create(
        operation="vacuum_tables", door="api", actor="alice", status=OpsRun.Status.QUEUED, target="task_worker"
    )
    code, failing = status_command()
    assert code == 1
    assert "runs" in failing.rpartition("not ok:")[2]
    assert "Audit log: failing — 1 run stalled (no task worker has ever been seen" in failing

    record_heartbeat(HOST, TASK_WORKER_PORT, TASK, force=True)  # a worker beats: the queue will move
    assert "Audit log: ok" in status_command()[1]


def test_a_run_whose_process_stopped_beating_is_stalled(settings):
    record_heartbeat(HOST, TASK_WORKER_PORT, TASK, force=True)
    worker = InstanceWorker.objects.get(kind=TASK)
    run = OpsRun.objects.create(
        operation="vacuum_tables",
        door="api",
        actor="alice",
        target="task_worker",
        status=OpsRun.Status.RUNNING,
        ran_on=f"{HOST}:{TASK_WORKER_PORT} pid {worker.pid}",
        started_at=timezone.now(),
    )
    assert "Audit log: ok" in status_command()[1]  # beating: it is working

    InstanceWorker.objects.filter(pk=worker.pk).update(last_seen_at=timezone.now() - timedelta(minutes=5))
    code, shown = status_command()
    assert code == 1
    assert re.search(
        rf"VACUUM \(ANALYZE\) tables #{run.pk}: its process {run.ran_on} has not been seen for 30\d s", shown
    )
    api = client_for(user_in(VIEWERS)).get(f"/api/ops/runs/{run.pk}/").json()
    assert re.match(rf"its process {run.ran_on} has not been seen for 30\d s: it was probably stopped", api["stalled"])

    command_run = OpsRun.objects.create(
        operation="analyze_tables", door="cli", actor="cli", status="running", ran_on=f"{HOST} pid 1"
    )
    assert client_for(user_in(VIEWERS, username="v2")).get(f"/api/ops/runs/{command_run.pk}/").json()["stalled"] == ""


def test_status_endpoint_needs_view_ops(client):
    assert client.get("/api/ops/status/").status_code == 401
    assert client_for(user_in(username="plain")).get("/api/ops/status/").status_code == 403
    body = client_for(user_in(VIEWERS)).get("/api/ops/status/").json()
    assert set(body["sections"]) == EVERY_SECTION - {"security"}  # viewers may not see the deployment's weaknesses
    _, token = issue_token(user_in(VIEWERS, username="robot"), "monitor")
    assert client.get("/api/ops/status/", **bearer(token)).status_code == 200


PAGES = ["admin:index", "admin:ops_health", "admin:opsadmin_instance_changelist", "admin:opsadmin_opsrun_changelist"]


@pytest.mark.parametrize("page", PAGES)
def test_ops_pages_permission_matrix(client, page):
    url = reverse(page)
    assert client.get(url).status_code == 302  # anonymous: to the login page
    assert client_for(user_in(staff=False, username="nonstaff")).get(url).status_code == 302
    assert client_for(user_in(VIEWERS, username="viewer")).get(url).status_code == 200
    assert client_for(user_in(OPERATORS, username="operator")).get(url).status_code == 200


@pytest.mark.parametrize("page", PAGES[1:])
def test_staff_without_ops_permissions_are_refused(page):
    assert client_for(user_in(username="staff")).get(reverse(page)).status_code == 403


def test_dashboard_shows_health_instances_and_runs():
    record_heartbeat("web1", "8000", force=True)
    call_command("drain", "web1:8000", stdout=StringIO())
    page = client_for(user_in(VIEWERS)).get(reverse("admin:index")).content.decode()
    assert 'id="health-checks"' in page
    assert "web1:8000" in page
    assert "Drained web1:8000" in page


def test_staff_without_view_ops_get_the_plain_dashboard():
    page = client_for(user_in(username="staff")).get(reverse("admin:index")).content.decode()
    assert 'id="ops-dashboard"' not in page


def queue_drain_of_web1():
    """A drain of the instance web1:8000, queued for the task worker as the API would queue it."""
    record_heartbeat("web1", "8000", force=True)
    data = {"instances": ["web1:8000"], "action": "drain"}
    return run_write("drain", data, where=targets.TASK_WORKER)


@pytest.mark.django_db(transaction=True)
def test_a_queued_run_is_performed_by_the_task_worker():
    run = queue_drain_of_web1()
    assert run.status == OpsRun.Status.QUEUED
    call_command("ops_worker", "--batch", stdout=StringIO(), stderr=StringIO())
    run.refresh_from_db()
    assert run.status == OpsRun.Status.SUCCEEDED
    assert run.summary == "Drained web1:8000"
    assert run.finished_at >= run.started_at


def test_a_token_created_in_the_admin_is_shown_once_and_works():
    admin = user_in(superuser=True, username="root")
    client = client_for(admin)
    response = client.post(
        reverse("admin:accounts_apitoken_add"), {"user": admin.pk, "name": "deploy script", "scope": "ops"}, follow=True
    )
    token = re.search(r"ops token for root: (\S+)", response.content.decode()).group(1)
    record = check_token(token)
    assert record.name == "deploy script"
    assert token not in client.get(reverse("admin:accounts_apitoken_change", args=[record.pk])).content.decode()
    assert ApiToken.objects.get().digest != token

    changelist = reverse("admin:accounts_apitoken_changelist")
    revoked = client.post(changelist, {"action": "revoke", "_selected_action": [record.pk]}, follow=True)
    assert "Revoked 1 token." in revoked.content.decode()
    issue, revoke = OpsRun.objects.order_by("pk")
    assert [(run.operation, run.door, run.actor) for run in (issue, revoke)] == [
        ("issue_api_token", "admin", "root"),
        ("revoke_api_tokens", "admin", "root"),
    ]
    assert token.partition(".")[2] not in str(issue.arguments) + issue.summary
    # Revoked, never deleted: no delete action, no delete page.
    assert "delete_selected" not in client.get(changelist).content.decode()
    assert client.get(reverse("admin:accounts_apitoken_delete", args=[record.pk])).status_code == 403


def operation_page(name):
    return reverse("admin:ops_operation", args=[name])


def test_an_operation_page_runs_its_write_and_shows_the_run():
    record_heartbeat("web1", "8000", force=True)
    client = client_for(user_in(OPERATORS, username="carol"))
    page = client.get(operation_page("drain") + "?instances=web1:8000&action=drain")
    assert page.status_code == 200
    assert page.context["form"].initial == {"instances": ["web1:8000"], "action": "drain"}
    asked = client.post(operation_page("drain"), {"instances": ["web1:8000"], "action": "drain"})
    assert "Drain 1 instance" in asked.content.decode()  # what will happen, before it does
    assert not OpsRun.objects.exists()
    data = {"instances": ["web1:8000"], "action": "drain", "confirmed": "yes"}
    response = client.post(operation_page("drain"), data, follow=True)
    run = OpsRun.objects.get()
    assert (run.door, run.actor, run.status) == ("admin", "carol", "succeeded")
    assert response.redirect_chain[-1][0] == reverse("admin:opsadmin_opsrun_change", args=[run.pk])
    assert "Drained web1:8000" in response.content.decode()


def test_an_operation_page_shows_form_errors_and_runs_nothing():
    client = client_for(user_in(OPERATORS))
    response = client.post(operation_page("drain"), {"instances": ["nope:1"], "action": "drain"})
    assert response.status_code == 200
    assert "Not a known web instance: nope:1." in response.content.decode()
    assert not OpsRun.objects.exists()


def test_operation_pages_check_the_operation_permission():
    assert client_for(user_in(VIEWERS)).get(operation_page("drain")).status_code == 403
    assert client_for(user_in(OPERATORS, username="op")).get(operation_page("no-such-thing")).status_code == 404


def test_a_running_run_refreshes_its_page():
    run = OpsRun.objects.create(operation="drain", door="api", actor="x", status=OpsRun.Status.RUNNING)
    page = client_for(user_in(VIEWERS)).get(reverse("admin:opsadmin_opsrun_change", args=[run.pk]))
    assert 'http-equiv="refresh"' in page.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_queued_run_whose_arguments_went_stale_fails_cleanly():
    run = queue_drain_of_web1()
    Instance.objects.filter(pk="web1:8000").delete()  # gone before the worker runs the drain
    call_command("ops_worker", "--batch", stdout=StringIO(), stderr=StringIO())
    run.refresh_from_db()
    assert run.status == OpsRun.Status.FAILED
    assert run.error.startswith("arguments no longer valid: instances:")
