"""One access policy on every HTTP surface, and nothing but JSON from the API, whatever it is sent.

The matrix: every ops endpoint (enumerated from the declarations, aliases included) and
the health detail, against every kind of caller. Reads answer 200 to those allowed; writes
get a body their form refuses, so an allowed caller sees 400 and nothing runs. The fuzz:
random JSON bodies and query strings at every endpoint, as an operator: never a 500,
never a page.
"""

import json
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.db import OperationalError
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsadmin.models import OpsRun
from portal.accounts.models import ApiToken
from portal.accounts.tokens import issue_token, revoke_tokens
from tests.helpers import OPERATORS, VIEWERS, bearer, client_for, post_json, user_in
from tests.opsadmin.endpoints import api_endpoints

pytestmark = pytest.mark.django_db


def callers():
    """{name: (client, what it may do)}: "viewer" reads, "operator" reads and runs every write."""
    made = {}
    anonymous = Client()
    made["anonymous"] = (anonymous, None)
    made["non-staff session"] = (client_for(user_in(username="member", staff=False, permissions=["view_ops"])), None)
    made["staff without ops permissions"] = (client_for(user_in(username="staff")), None)
    made["viewer session"] = (client_for(user_in(VIEWERS, username="viewer")), "viewer")
    made["operator session"] = (client_for(user_in(OPERATORS, username="operator")), "operator")
    made["superuser session"] = (client_for(user_in(superuser=True, username="root")), "operator")
    operator = user_in(OPERATORS, username="script-owner")
    made["operator token"] = (_with_token(issue_token(operator, "script")[1]), "operator")
    made["viewer token"] = (_with_token(issue_token(user_in(VIEWERS, username="watcher"), "monitor")[1]), "viewer")
    revoked, revoked_token = issue_token(operator, "old")
    revoke_tokens(ApiToken.objects.filter(pk=revoked.pk))
    made["revoked token"] = (_with_token(revoked_token), None)
    expired, expired_token = issue_token(operator, "short")
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    made["expired token"] = (_with_token(expired_token), None)
    demoted = user_in(OPERATORS, username="demoted")
    demoted_token = issue_token(demoted, "kept")[1]
    demoted.is_staff = False
    demoted.save()
    made["token of a demoted user"] = (_with_token(demoted_token), None)
    outsider = user_in(OPERATORS, username="outsider", staff=False)  # issued past the command's check
    made["token of a non-staff user"] = (_with_token(issue_token(outsider, "never staff")[1]), None)
    made["scanner token"] = (_with_token(issue_token(operator, "app", scope=ApiToken.Scope.SCANNER)[1]), None)
    reset = user_in(OPERATORS, username="reset")
    reset_token = issue_token(reset, "before the reset")[1]
    reset.set_password("a-new-password-for-tests")
    reset.save()
    made["token after a password change"] = (_with_token(reset_token), None)
    made["Bearer without a token"] = (_with_header("Bearer"), None)
    made["BearerX<token>"] = (_with_header(f"BearerX{issue_token(operator, 'squashed')[1]}"), None)
    made["token with a space"] = (_with_header("Bearer abc def"), None)
    return made


EXPECTED = {  # for a read / for a write, when the caller's role doesn't allow it
    "anonymous": 401,
    "non-staff session": 403,
    "staff without ops permissions": 403,
    "revoked token": 401,
    "expired token": 401,
    "token of a demoted user": 403,
    "token of a non-staff user": 403,
    "scanner token": 403,
    "token after a password change": 401,
    "Bearer without a token": 401,
    "BearerX<token>": 401,
    "token with a space": 401,
}


def _with_token(token):
    return _with_header(f"Bearer {token}")


def _with_header(value):
    return Client(HTTP_AUTHORIZATION=value)


def may(role, endpoint):
    if role is None:
        return False
    return role == "operator" or endpoint.permission == "view_ops"


def request(client, endpoint):
    path, query = endpoint.resolve()
    if endpoint.method == "GET":
        return client.get(path, query)
    field = next(iter(endpoint.form_class.base_fields))
    return post_json(client, path, {field: "\x00"})  # its form refuses it: nothing runs


def test_every_endpoint_answers_every_caller_as_the_policy_says():
    endpoints = api_endpoints()
    unexpected = []
    for name, (client, role) in callers().items():
        for endpoint in endpoints:
            response = request(client, endpoint)
            allowed = 200 if endpoint.method == "GET" else 400
            expected = allowed if may(role, endpoint) else EXPECTED.get(name, 403)
            if response.status_code != expected:
                unexpected.append(f"{name} {endpoint.id}: {response.status_code}, expected {expected}")
            assert response["Content-Type"] == "application/json", endpoint.id
            if response.status_code == 401:
                assert response["WWW-Authenticate"].startswith('Bearer realm="ops"')
            if response.status_code in (401, 403):
                assert len(response.content) < 100  # a small body, the same everywhere
    assert unexpected == []
    # No write ran (the runs read a sample run): a destructive write's bad input is audited as refused, nothing more.
    ran = OpsRun.objects.filter(door=OpsRun.Door.API).exclude(status=OpsRun.Status.REFUSED)
    assert not ran.exists()


def test_the_health_detail_follows_the_same_policy():
    for name, (client, role) in callers().items():
        response = client.get("/health/", HTTP_ACCEPT="application/json")
        assert response.status_code in ((200, 503) if role else (EXPECTED.get(name, 403),)), name
        if response.status_code in (401, 403):
            assert set(response.json()) <= {"error", "permission"}


def test_session_writes_need_the_csrf_token_and_tokens_do_not():
    operator = user_in(OPERATORS, username="op")
    session = client_for(operator, enforce_csrf_checks=True)
    refused = post_json(session, "/api/ops/instances/drain/", {"instances": ["x"]})
    assert (refused.status_code, refused.json()["error"]) == (
        403,
        "CSRF check failed: send X-CSRFToken with the csrftoken cookie",
    )
    tokened = Client(enforce_csrf_checks=True, **bearer(issue_token(operator, "script")[1]))
    assert post_json(tokened, "/api/ops/instances/drain/", {"instances": ["x"]}).status_code == 400


# --- The API answers JSON, whatever it is sent ----------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
FIELD_NAMES = st.sampled_from(
    ["alias", "pattern", "dry_run", "confirm", "indexes", "tables", "tickers", "instances", "action"]
)
BODIES = st.one_of(
    st.dictionaries(FIELD_NAMES | st.text(max_size=8), JSON_VALUES, max_size=5).map(json.dumps),
    JSON_VALUES.map(json.dumps),
    st.binary(max_size=64),
    st.sampled_from(
        ['{"dry_run": NaN}', '{"dry_run": Infinity}', '{"a": 1e999}', "[" * 5000, '{"confirm": "\\ud800"}']
    ),
)
QUERIES = st.dictionaries(
    st.sampled_from(["id", "status", "operation", "before"]) | st.text(max_size=8), st.text(max_size=12), max_size=4
)
FUZZ = settings(
    max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def operator_client():
    return Client(**bearer(issue_token(user_in(superuser=True, username="fuzzer"), "fuzz")[1]))


def assert_json_answer(response, endpoint):
    assert response.status_code < 500, f"{endpoint}: {response.status_code} {response.content[:300]!r}"
    assert response["Content-Type"] == "application/json", endpoint
    json.loads(response.content)


@pytest.mark.parametrize("endpoint", [e for e in api_endpoints() if e.method == "POST"], ids=lambda e: e.id)
@FUZZ
@given(body=BODIES)
def test_writes_answer_json_to_any_body(operator_client, endpoint, body):
    path, _ = endpoint.resolve()
    response = operator_client.post(path, body, content_type="application/json")
    assert_json_answer(response, endpoint.id)


@pytest.mark.parametrize("endpoint", [e for e in api_endpoints() if e.method == "GET"], ids=lambda e: e.id)
@FUZZ
@given(query=QUERIES)
def test_reads_answer_json_to_any_query_string(operator_client, endpoint, query):
    path, _ = endpoint.resolve()
    response = operator_client.get(f"{path}?{urlencode(query)}")
    assert_json_answer(response, endpoint.id)


@FUZZ
@given(query=QUERIES, accept=st.sampled_from(["application/json", "text/plain", "*/*", "", "text/html"]))
def test_the_health_detail_answers_any_query_string(operator_client, query, accept):
    response = operator_client.get(f"/health/?{urlencode(query)}", HTTP_ACCEPT=accept)
    assert response.status_code in (200, 406, 503)  # ready or not, or no type it can answer in: never a crash


@FUZZ
@given(path=st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=30))
def test_any_path_under_the_api_answers_json(operator_client, path):
    response = operator_client.get("/api/ops/" + path.lstrip("/"))
    assert_json_answer(response, path)


def test_a_body_over_the_limit_is_413_and_the_errors_of_a_broken_database_are_503(
    operator_client, settings, monkeypatch
):
    settings.PORTAL_API_MAX_BODY_BYTES = 1000
    big = operator_client.post(
        "/api/ops/caches/clear/", json.dumps({"pattern": "x" * 2000}), content_type="application/json"
    )
    assert (big.status_code, big.json()["error"]) == (413, "the body is over 1,000 bytes")

    def down():
        raise OperationalError("could not connect to server")

    monkeypatch.setattr("opsadmin.operations.database.drift.declared_indexes", down)
    unavailable = operator_client.get("/api/ops/database/analysis/")
    assert (unavailable.status_code, unavailable.json()) == (503, {"error": "database unavailable"})
    assert unavailable["Retry-After"] == "5"
    wrong_method = operator_client.delete("/api/ops/status/")
    assert (wrong_method.status_code, wrong_method["Allow"]) == (405, "GET, HEAD")


def test_form_bodies_from_a_session_are_answered_not_crashed_on():
    """The CSRF check of a session reads form data: the API reads the body first, so no upload can break it."""
    operator = client_for(user_in(OPERATORS, username="op"))
    upload = operator.post("/api/ops/caches/clear/", {"csrfmiddlewaretoken": "x", "alias": "default"})
    assert (upload.status_code, upload.json()["error"][:27]) == (400, "the body is not valid JSON:")
    garbage = operator.post(
        "/api/ops/caches/clear/",
        b"--b\r\ngarbage",
        content_type="multipart/form-data; boundary=b",
        HTTP_X_CSRFTOKEN="x",
    )
    assert garbage.status_code == 400
    huge = operator.post(
        "/api/ops/caches/clear/", "a=" + "x" * 3_000_000, content_type="application/x-www-form-urlencoded"
    )
    assert (huge.status_code, huge.json()) == (413, {"error": "the body is over 1,048,576 bytes"})
    assert not OpsRun.objects.exists()
