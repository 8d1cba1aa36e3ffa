"""Draining through the three doors: one permission, one form, one audit row per write."""

import getpass
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from opsadmin.models import Instance, OpsRun
from opsadmin.runtime.heartbeat import record_heartbeat
from opsadmin.runtime.identity import HOST, command_line_user
from portal.accounts.models import ApiToken
from portal.accounts.tokens import issue_token, revoke_tokens
from tests.helpers import OPERATORS, VIEWERS, bearer, client_for, post_json, user_in

pytestmark = pytest.mark.django_db

DRAIN_URL = "/api/ops/drain/"


@pytest.fixture
def instance():
    record_heartbeat("web1", "8000", force=True)
    return Instance.objects.get(pk="web1:8000")


def drain_body(instance, action="drain"):
    return {"instances": [instance.pk], "action": action}


def test_anonymous_gets_401_and_nothing_is_recorded(client, instance):
    response = post_json(client, DRAIN_URL, drain_body(instance))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not OpsRun.objects.exists()


@pytest.mark.parametrize(
    ("group", "staff", "expected"),
    [(None, False, 403), (None, True, 403), (VIEWERS, True, 403), (OPERATORS, True, 200)],
)
def test_session_permission_matrix(instance, group, staff, expected):
    client = client_for(user_in(group, staff=staff))
    assert post_json(client, DRAIN_URL, drain_body(instance)).status_code == expected
    assert OpsRun.objects.count() == (1 if expected == 200 else 0)


@pytest.mark.parametrize(("group", "expected"), [(VIEWERS, 403), (OPERATORS, 200)])
def test_token_permission_matrix(client, instance, group, expected):
    _, token = issue_token(user_in(group), "script")
    response = post_json(client, DRAIN_URL, drain_body(instance), **bearer(token))
    assert response.status_code == expected


def test_revoked_expired_and_malformed_tokens_get_401(client, instance):
    operator = user_in(OPERATORS)
    record, revoked = issue_token(operator, "script")
    revoke_tokens(ApiToken.objects.filter(pk=record.pk))
    record, expired = issue_token(operator, "short-lived", expires_in=timedelta(days=1))
    ApiToken.objects.filter(pk=record.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    for header in (f"Bearer {revoked}", f"Bearer {expired}", "Bearer", "Basic abc"):
        assert post_json(client, DRAIN_URL, drain_body(instance), HTTP_AUTHORIZATION=header).status_code == 401


def test_session_posts_need_csrf_tokens_do_not(instance):
    operator = user_in(OPERATORS)
    client = client_for(operator, enforce_csrf_checks=True)
    assert post_json(client, DRAIN_URL, drain_body(instance)).status_code == 403
    client.get(reverse("admin:index"))  # sets the csrftoken cookie
    csrf = client.cookies["csrftoken"].value
    assert post_json(client, DRAIN_URL, drain_body(instance), HTTP_X_CSRFTOKEN=csrf).status_code == 200
    _, token = issue_token(operator, "script")
    tokened = Client(enforce_csrf_checks=True)
    response = post_json(tokened, DRAIN_URL, drain_body(instance, "resume"), **bearer(token))
    assert response.status_code == 200


def test_api_drain_and_resume_record_runs(instance):
    client = client_for(user_in(OPERATORS, username="alice"))
    response = post_json(client, DRAIN_URL, drain_body(instance))
    body = response.json()
    assert body["status"] == "succeeded"
    assert body["summary"] == "Drained web1:8000"
    instance.refresh_from_db()
    assert instance.drain_requested_at is not None
    assert instance.drained_by == "alice"
    run = OpsRun.objects.get(pk=body["id"])
    assert (run.door, run.actor, run.operation, run.arguments) == ("api", "alice", "drain", drain_body(instance))
    assert client.get(body["url"]).json()["id"] == run.pk
    post_json(client, DRAIN_URL, drain_body(instance, "resume"))
    instance.refresh_from_db()
    assert instance.drain_requested_at is None


@pytest.mark.parametrize(
    ("body", "field"),
    [({"instances": ["nope:1"], "action": "drain"}, "instances"), ({"instances": [], "action": "drain"}, "instances")],
)
def test_api_bad_input_is_400_with_field_errors(instance, body, field):
    client = client_for(user_in(OPERATORS))
    response = post_json(client, DRAIN_URL, body)
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert list(OpsRun.objects.values_list("door", "status")) == [("api", "refused")]  # drained nothing


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("not json", "the body is not valid JSON: Expecting value: line 1 column 1 (char 0)"),
        ("[1, 2]", "the body must be a JSON object"),
        ('"text"', "the body must be a JSON object"),
    ],
)
def test_api_body_must_be_a_json_object(instance, raw, error):
    client = client_for(user_in(OPERATORS))
    response = client.post(DRAIN_URL, raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == error


def test_api_reads_need_view_ops(client, instance):
    viewer = client_for(user_in(VIEWERS))
    listed = viewer.get("/api/ops/instances/").json()["instances"]
    assert "web1:8000" in {row["id"] for row in listed}
    assert viewer.get("/api/ops/runs/").status_code == 200
    assert viewer.get("/api/ops/runs/999/").status_code == 404
    assert viewer.get("/api/ops/runs/?before=x").status_code == 400
    assert client_for(user_in(None, username="plain")).get("/api/ops/runs/").status_code == 403
    assert client.get("/api/ops/instances/").status_code == 401
    assert viewer.post("/api/ops/runs/").status_code == 405


def test_command_drains_and_records_a_cli_run(instance):
    out = StringIO()
    call_command("drain", instance.pk, stdout=out)
    assert "Drained web1:8000" in out.getvalue()
    run = OpsRun.objects.get()
    assert (run.door, run.actor, run.status) == ("cli", command_line_user(), "succeeded")
    assert run.actor == f"cli:{getpass.getuser()}@{HOST}"


def test_command_bad_input_exits_2_and_changes_nothing(instance):
    with pytest.raises(CommandError, match="instances") as error:
        call_command("drain", "nope:1")
    assert error.value.returncode == 2
    assert list(OpsRun.objects.values_list("door", "status")) == [("cli", "refused")]
    instance.refresh_from_db()
    assert instance.drain_requested_at is None


def admin_action(client, action, ids, *, confirmed=False):
    """An action from the change list; `confirmed`: the POST of its confirmation page."""
    data = {"action": action, "_selected_action": ids, **({"confirmed": "yes"} if confirmed else {"index": 0})}
    return client.post(reverse("admin:opsadmin_instance_changelist"), data, follow=True)


def test_admin_actions_drain_after_a_confirmation_and_resume_at_once(instance):
    client = client_for(user_in(OPERATORS, username="bob"))
    asked = admin_action(client, "drain", [instance.pk]).content.decode()
    assert "Drain 1 instance" in asked
    assert "web1:8000 (serving, 1 process," in asked
    assert "left serving" in asked  # how many the load balancer keeps
    assert not OpsRun.objects.exists()
    response = admin_action(client, "drain", [instance.pk], confirmed=True)
    assert "Drained web1:8000" in response.content.decode()
    run = OpsRun.objects.get()
    assert (run.door, run.actor) == ("admin", "bob")
    admin_action(client, "resume", [instance.pk])
    instance.refresh_from_db()
    assert instance.drain_requested_at is None


def test_viewers_see_instances_but_cannot_drain(instance):
    client = client_for(user_in(VIEWERS))
    page = client.get(reverse("admin:opsadmin_instance_changelist"))
    assert page.status_code == 200
    assert "Drain selected" not in page.content.decode()
    admin_action(client, "drain", [instance.pk])
    assert not OpsRun.objects.exists()
    instance.refresh_from_db()
    assert instance.drain_requested_at is None


def test_audit_log_cannot_be_edited_or_deleted(instance):
    call_command("drain", instance.pk, stdout=StringIO())
    run = OpsRun.objects.get()
    client = client_for(user_in(superuser=True, username="root"))
    assert client.get(reverse("admin:opsadmin_opsrun_change", args=[run.pk])).status_code == 200
    client.post(reverse("admin:opsadmin_opsrun_delete", args=[run.pk]), {"post": "yes"})
    assert OpsRun.objects.filter(pk=run.pk).exists()
    assert client.get(reverse("admin:opsadmin_opsrun_add")).status_code == 403


def test_a_non_ascii_digit_in_before_is_a_400_not_a_500(instance):
    viewer = client_for(user_in(VIEWERS))
    assert viewer.get("/api/ops/runs/?before=%C2%B2").status_code == 400


def test_json_objects_where_a_value_is_expected_are_refused(instance):
    client = client_for(user_in(OPERATORS))
    response = post_json(client, DRAIN_URL, {"instances": [instance.pk], "action": {"a": 1}})
    assert response.status_code == 400
    assert response.json()["fields"] == {"action": ["Enter a single value, not a list or an object."]}
    nested = post_json(client, DRAIN_URL, {"instances": [[instance.pk]], "action": "drain"})
    assert nested.json()["fields"] == {"instances": ["Enter a list of values."]}
    refusals = OpsRun.objects.order_by("pk")
    assert [run.status for run in refusals] == ["refused", "refused"]
    assert refusals[0].arguments == {"instances": [instance.pk], "action": {"a": 1}}  # what was asked, as asked


def test_a_proxy_basic_auth_header_does_not_hide_the_staff_session(instance):
    client = client_for(user_in(VIEWERS))
    assert client.get("/api/ops/instances/", HTTP_AUTHORIZATION="Basic dXNlcjpwdw==").status_code == 200


def test_staff_issue_tokens_only_for_themselves_unless_superuser():
    staff = user_in(username="staffer")
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["add_apitoken", "view_apitoken"]))
    other = user_in(OPERATORS, username="boss")
    client = client_for(staff)
    client.post(reverse("admin:accounts_apitoken_add"), {"user": other.pk, "name": "borrowed", "scope": "ops"})
    assert not ApiToken.objects.filter(user=other).exists()
    client.post(reverse("admin:accounts_apitoken_add"), {"user": staff.pk, "name": "mine", "scope": "ops"})
    assert ApiToken.objects.filter(user=staff).exists()
