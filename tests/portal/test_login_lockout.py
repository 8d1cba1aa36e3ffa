"""The login lockout: by username and address, the right password refused while it lasts, a client's own
X-Forwarded-For never trusted, reset from the admin by those allowed, audited; tokens and probes untouched."""

import pytest
from axes.models import AccessAttempt
from django.test import Client, RequestFactory, override_settings

from opsadmin.models import OpsRun
from opsadmin.operations.runs.access_audit import LOCK_OUT, RESET
from portal.accounts.addresses import client_address
from portal.accounts.tokens import issue_token
from tests.helpers import OPERATORS, PASSWORD, VIEWERS, bearer, client_for, user_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ops_groups")]

LOGIN = "/admin/login/?next=/admin/"
LIMIT = 3


@pytest.fixture(autouse=True)
def _limit():
    with override_settings(AXES_FAILURE_LIMIT=LIMIT):
        yield


def log_in(username, password, address="10.0.0.1", **headers):
    """A login through the admin's form from `address`; the response, and the client (logged in or not)."""
    client = Client(REMOTE_ADDR=address)
    response = client.post(LOGIN, {"username": username, "password": password}, **headers)
    return response, client


def logged_in(client):
    return "_auth_user_id" in client.session


def fail(times, username="operator", address="10.0.0.1", **headers):
    return [log_in(username, "wrong password", address, **headers)[0].status_code for _ in range(times)]


def test_the_configured_failures_lock_the_login_and_the_right_password_too():
    user_in(OPERATORS, username="operator")
    assert fail(LIMIT) == [200] * (LIMIT - 1) + [429]

    response, client = log_in("operator", PASSWORD)
    assert response.status_code == 429
    assert not logged_in(client)
    page = response.content.decode()
    assert "Too many failed logins." in page
    assert "for <strong>operator</strong>" in page
    assert "15 minutes" in page
    assert "Traceback" not in page
    assert response["Retry-After"] == "900"
    assert 'id="login-form"' not in page


def test_below_the_limit_the_right_password_gets_in():
    user_in(OPERATORS, username="operator")
    assert fail(LIMIT - 1) == [200] * (LIMIT - 1)
    response, client = log_in("operator", PASSWORD)
    assert response.status_code == 302
    assert logged_in(client)


def test_the_lockout_is_of_one_username_from_one_address():
    user_in(OPERATORS, username="operator")
    user_in(VIEWERS, username="viewer")
    fail(LIMIT, "operator", "10.0.0.1")

    assert log_in("operator", PASSWORD, "10.0.0.2")[0].status_code == 302  # the same user elsewhere
    assert log_in("viewer", PASSWORD, "10.0.0.1")[0].status_code == 302  # another user from there
    assert log_in("operator", PASSWORD, "10.0.0.1")[0].status_code == 429


def test_a_clients_own_x_forwarded_for_does_not_evade_the_lockout():
    user_in(OPERATORS, username="operator")
    statuses = [
        log_in("operator", "wrong", "10.0.0.1", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")[0].status_code
        for n in range(LIMIT)
    ]
    assert statuses[-1] == 429
    assert log_in("operator", PASSWORD, "10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.99")[0].status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"10.0.0.1"}


@override_settings(PORTAL_BEHIND_PROXY=True)
def test_behind_the_proxy_the_address_it_appended_is_the_clients():
    user_in(OPERATORS, username="operator")
    proxy = "10.0.0.9"
    for n in range(LIMIT):  # what the client puts before the proxy's entry changes nothing
        log_in("operator", "wrong", proxy, HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, 203.0.113.5")
    assert log_in("operator", PASSWORD, proxy, HTTP_X_FORWARDED_FOR="203.0.113.5")[0].status_code == 429
    # Another client through the same proxy is not locked out.
    assert log_in("operator", PASSWORD, proxy, HTTP_X_FORWARDED_FOR="203.0.113.5, 203.0.113.6")[0].status_code == 302
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.5"}


@pytest.mark.parametrize(
    ("behind_proxy", "forwarded_for", "expected"),
    [
        (False, "203.0.113.5", "10.0.0.9"),
        (True, "198.51.100.1, 203.0.113.5", "203.0.113.5"),
        (True, "203.0.113.5 ", "203.0.113.5"),
        (True, "2001:db8::1", "2001:db8::1"),
        (True, "not an address", "10.0.0.9"),
        (True, None, "10.0.0.9"),
    ],
)
def test_client_address(behind_proxy, forwarded_for, expected):
    headers = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for is not None else {}
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.9", **headers)
    with override_settings(PORTAL_BEHIND_PROXY=behind_proxy):
        assert client_address(request) == expected


def test_a_lockout_is_audited_once_and_a_reset_from_the_admin_lets_the_user_in_again():
    user_in(OPERATORS, username="operator")
    fail(LIMIT + 2)  # two more tries while locked: still one lockout in the audit log
    lockout = OpsRun.objects.get(operation=LOCK_OUT)
    assert (lockout.door, lockout.actor, lockout.user) == ("portal", "portal", None)
    assert lockout.arguments == {"username": "operator", "address": "10.0.0.1", "failures": LIMIT}
    assert lockout.summary == "Locked out logins of 'operator' from 10.0.0.1 after 3 failures, for 15 min."

    admin = user_in(superuser=True, username="root")
    attempt = AccessAttempt.objects.get(username="operator")
    response = client_for(admin).post(
        "/admin/axes/accessattempt/", {"action": "reset_lockout", "_selected_action": [attempt.pk]}
    )
    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    reset = OpsRun.objects.get(operation=RESET)
    assert (reset.door, reset.actor, reset.user) == ("admin", "root", admin)
    assert reset.summary == "Reset 1 login attempt count: 'operator' from 10.0.0.1 (5 failures)."

    response, client = log_in("operator", PASSWORD)
    assert response.status_code == 302
    assert logged_in(client)


def test_resetting_needs_the_permission_to_delete_login_attempts():
    user_in(OPERATORS, username="operator")
    fail(LIMIT)
    watcher = user_in(username="watcher", permissions=["view_accessattempt"])
    client = client_for(watcher)
    changelist = client.get("/admin/axes/accessattempt/")
    assert changelist.status_code == 200
    assert b"operator" in changelist.content
    assert b"reset_lockout" not in changelist.content
    pk = AccessAttempt.objects.get().pk
    client.post("/admin/axes/accessattempt/", {"action": "reset_lockout", "_selected_action": [pk]})
    assert AccessAttempt.objects.filter(pk=pk).exists()
    assert not OpsRun.objects.filter(operation=RESET).exists()

    resetter = user_in(username="resetter", permissions=["view_accessattempt", "delete_accessattempt"])
    assert b"reset_lockout" in client_for(resetter).get("/admin/axes/accessattempt/").content


def test_a_locked_out_user_s_token_and_the_probes_still_work():
    operator = user_in(OPERATORS, username="operator")
    token = issue_token(operator, "script")[1]
    fail(LIMIT, address="127.0.0.1")
    assert log_in("operator", PASSWORD, "127.0.0.1")[0].status_code == 429

    assert Client().get("/api/ops/status/", **bearer(token)).status_code == 200
    assert Client().get("/health/live/").status_code == 200
    assert Client().get("/health/ready/").status_code in (200, 503)  # answers, whatever the checks say
