"""Sessions: a day long, ended on the server at logout; a password change ends the user's other sessions and
revokes their ops tokens, and keeps the session that changed it."""

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client

from portal.accounts.models import ApiToken
from portal.accounts.tokens import issue_token
from tests.helpers import OPERATORS, PASSWORD, bearer, user_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ops_groups")]


def password_login(user):
    client = Client()
    assert client.post("/admin/login/", {"username": user.username, "password": PASSWORD}).status_code == 302
    return client


def test_a_login_lasts_a_day_and_is_not_stretched_by_use():
    client = password_login(user_in(OPERATORS, username="operator"))
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["max-age"] == 86400
    assert (settings.SESSION_SAVE_EVERY_REQUEST, settings.SESSION_EXPIRE_AT_BROWSER_CLOSE) == (False, False)
    assert settings.SESSION_COOKIE_NAME not in client.get("/admin/").cookies  # using it re-sends nothing


def test_logging_out_ends_the_session_on_the_server():
    client = password_login(user_in(OPERATORS, username="operator"))
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert client.post("/admin/logout/").status_code == 200
    assert not Session.objects.filter(session_key=key).exists()

    replayed = Client()
    replayed.cookies[settings.SESSION_COOKIE_NAME] = key  # the old cookie, kept by someone
    response = replayed.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_a_password_change_ends_other_sessions_and_revokes_ops_tokens():
    operator = user_in(OPERATORS, username="operator")
    here, elsewhere = password_login(operator), password_login(operator)
    ops_token = issue_token(operator, "script")[1]
    scanner, _ = issue_token(operator, "app", scope=ApiToken.Scope.SCANNER)
    assert Client().get("/api/ops/status/", **bearer(ops_token)).status_code == 200

    new = "a-new-password-for-tests"
    changed = here.post(
        "/admin/password_change/", {"old_password": PASSWORD, "new_password1": new, "new_password2": new}
    )
    assert changed.status_code == 302

    assert here.get("/admin/").status_code == 200  # the session that changed it goes on
    assert elsewhere.get("/admin/")["Location"].startswith("/admin/login/")
    assert Client().get("/api/ops/status/", **bearer(ops_token)).status_code == 401
    assert ApiToken.objects.get(pk=scanner.pk).revoked_at is None  # only the ops tokens
