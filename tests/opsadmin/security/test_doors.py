"""The checklist's doors: the page, GET /api/ops/security/, the dashboard tile and `security_checklist`, each
refused without view_security (viewers) and shown with it (operators); the command's exit codes gate a deploy."""

import json
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.test import override_settings

from tests.helpers import OPERATORS, VIEWERS, exit_code, logged_in
from tests.opsadmin.security.settings import LOGIN_BRANCH, login_branch_installed, production

pytestmark = pytest.mark.django_db

PAGE, ENDPOINT, READ = "/admin/ops/security/", "/api/ops/security/", "/api/ops/security/checklist/"


def test_view_security_is_the_operators_not_the_viewers():
    assert Group.objects.get(name=OPERATORS).permissions.filter(codename="view_security").exists()
    assert not Group.objects.get(name=VIEWERS).permissions.filter(codename="view_security").exists()


@override_settings(DEBUG=True)
def test_an_operator_sees_the_page_problems_first():
    with override_settings(PERMISSIONS_POLICY={}):  # a warning beside the development default's failures
        response = logged_in(OPERATORS).get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    order = [html.index(f'id="security-{status}"') for status in ("failure", "warning", "pass", "info")]
    assert order == sorted(order)
    assert 'data-item="security.W004" data-status="failure"' in html
    assert 'data-item="opsadmin.security.W107" data-status="warning"' in html
    assert 'id="security-score"' in html
    assert "Score: passing items" in html
    assert '<details>\n      <summary class="cursor-pointer text-primary-600">Details</summary>\n      <pre' in html


def test_a_viewer_is_refused_the_page_and_the_endpoint():
    client = logged_in(VIEWERS)
    page = client.get(PAGE)
    assert page.status_code == 403
    assert "view_security" in page.content.decode()  # the portal's refusal, saying what is missing
    for path in (ENDPOINT, READ):
        answer = client.get(path)
        assert answer.status_code == 403
        assert answer["Content-Type"] == "application/json"
        assert answer.json() == {"error": "permission required", "permission": "opsadmin.view_security"}


def test_an_operator_reads_the_checklist_from_the_api():
    client = logged_in(OPERATORS)
    data = client.get(ENDPOINT).json()  # the alias answers the checklist itself
    assert set(data) == {"score", "counts", "items", "graded_at"}
    assert {"security.W004", "live.hsts", "opsadmin.security.I114"} <= {item["id"] for item in data["items"]}
    section = client.get(READ).json()
    assert section["data"]["score"] == data["score"]
    assert section["status"] in ("failing", "warning", "ok")


def test_the_tile_shows_to_operators_only():
    assert 'data-tile="security"' in logged_in(OPERATORS).get("/admin/").content.decode()
    viewer = logged_in(VIEWERS)
    assert 'data-tile="security"' not in viewer.get("/admin/").content.decode()
    assert "security" not in viewer.get("/api/ops/status/").json()["sections"]


@override_settings(DEBUG=True)
def test_the_command_fails_the_development_default():
    out = StringIO()
    assert exit_code("security_checklist", stdout=out) == 1
    assert "failure  security.W004" in out.getvalue()
    assert exit_code("security_checklist", "--fail-on", "warning", stdout=StringIO()) == 1


@pytest.mark.skipif(not login_branch_installed, reason=LOGIN_BRANCH)
def test_the_command_gates_on_the_chosen_level():
    with override_settings(**production(SESSION_COOKIE_AGE=1209600)):  # a warning, no failure
        assert exit_code("security_checklist", stdout=StringIO()) == 0
        assert exit_code("security_checklist", "--fail-on", "failure", stdout=StringIO()) == 0
        assert exit_code("security_checklist", "--fail-on", "warning", stdout=StringIO()) == 1
    with override_settings(**production()):
        assert exit_code("security_checklist", "--fail-on", "warning", stdout=StringIO()) == 0


def test_the_command_prints_json_as_the_api_answers():
    out = StringIO()
    exit_code("security_checklist", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert set(data) == {"score", "counts", "items", "graded_at"}
    assert data["items"][0]["status"] == "failure"


@pytest.mark.parametrize("level", ["error", "WARNING", ""])
def test_a_bad_level_exits_2_with_a_message(level):
    with pytest.raises(CommandError) as refused:
        call_command("security_checklist", "--fail-on", level, stdout=StringIO())
    assert (refused.value.returncode, str(refused.value)) == (2, f"--fail-on takes warning or failure, not {level!r}")
