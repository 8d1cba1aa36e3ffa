"""API tokens: shown once, stored as a digest, refused when unknown, revoked or expired."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from opsadmin.models import OpsRun
from opsadmin.runtime.identity import command_line_user
from portal.accounts.models import ApiToken
from portal.accounts.tokens import InvalidToken, check_token, issue_token, revoke_tokens

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator():
    return get_user_model().objects.create_user("operator", is_staff=True)


def test_only_the_digest_is_stored(operator):
    record, token = issue_token(operator, "deploy")
    stored = ApiToken.objects.get(pk=record.pk)
    assert token.startswith(stored.prefix + ".")
    assert token not in (stored.digest, stored.prefix)
    assert check_token(token).user == operator


@pytest.mark.parametrize("presented", ["", "no-dot", ".secret", "abc.def", "0123456789ab.wrong"])
def test_malformed_or_unknown_tokens_are_refused(operator, presented):
    issue_token(operator, "deploy")
    with pytest.raises(InvalidToken):
        check_token(presented)


def test_a_right_prefix_with_a_wrong_secret_is_refused(operator):
    record, _ = issue_token(operator, "deploy")
    with pytest.raises(InvalidToken):
        check_token(f"{record.prefix}.{'x' * 43}")


def test_revoked_expired_and_inactive_tokens_are_refused(operator):
    revoked, revoked_token = issue_token(operator, "old")
    assert revoke_tokens(ApiToken.objects.filter(pk=revoked.pk)) == 1
    expired, expired_token = issue_token(operator, "short", expires_in=timedelta(days=1))
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    for token in (revoked_token, expired_token):
        with pytest.raises(InvalidToken, match="revoked or expired"):
            check_token(token)
    _, token = issue_token(operator, "fine")
    operator.is_active = False
    operator.save()
    with pytest.raises(InvalidToken):
        check_token(token)


def test_use_is_recorded(operator):
    record, token = issue_token(operator, "deploy")
    check_token(token)
    assert ApiToken.objects.get(pk=record.pk).last_used_at is not None


def test_command_prints_a_working_token_once(operator):
    out, err = StringIO(), StringIO()
    call_command("create_api_token", "operator", "--expires-days", "7", stdout=out, stderr=err)
    token = out.getvalue().strip()
    record = check_token(token)
    assert timedelta(days=6) < record.expires_at - timezone.now() <= timedelta(days=7)
    assert "shown only now" in err.getvalue()


def test_command_json(operator):
    out = StringIO()
    call_command("create_api_token", "operator", "--json", stdout=out)
    payload = json.loads(out.getvalue())
    assert check_token(payload["token"]).pk == payload["id"]
    assert payload["expires_at"] is None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["nobody"], "no user named 'nobody'"),
        (["operator", "--expires-days", "0"], "between 1 and 36500"),
        (["operator", "--expires-days", "3000000"], "between 1 and 36500"),
        (["oper\x00ator"], "username: null characters"),
        (["operator", "--name", "x" * 101], "in 1 to 100 characters"),
        (["operator", "--name", " "], "in 1 to 100 characters"),
    ],
)
def test_command_bad_usage_exits_2_and_creates_nothing(operator, arguments, message):
    with pytest.raises(CommandError, match=message) as error:
        call_command("create_api_token", *arguments)
    assert error.value.returncode == 2
    assert not ApiToken.objects.exists()
    assert not OpsRun.objects.exists()


def test_a_password_change_revokes_the_users_ops_tokens_and_only_those(operator):
    ops, ops_token = issue_token(operator, "deploy")
    scanner, scanner_token = issue_token(operator, "app", scope=ApiToken.Scope.SCANNER)
    operator.set_password("a-new-password-for-tests")
    operator.save()
    with pytest.raises(InvalidToken):
        check_token(ops_token)
    assert ApiToken.objects.get(pk=ops.pk).revoked_because == "its user's password changed"
    assert check_token(scanner_token).pk == scanner.pk  # a scanner key is the member's, not a staff credential


def test_a_password_hash_upgraded_at_login_is_no_change(operator):
    """Django rehashes an old hash when its user logs in: the password is the same, the token stays."""
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    operator.password = PBKDF2PasswordHasher().encode("the-same-password", "somesalt", iterations=1000)
    operator.save()
    _, token = issue_token(operator, "deploy")
    assert operator.check_password("the-same-password")  # upgrades and saves the hash
    assert "$1000$" not in get_user_model().objects.get(pk=operator.pk).password
    assert check_token(token).user == operator


def test_the_command_issues_ops_tokens_for_staff_only(operator):
    member = get_user_model().objects.create_user("member")
    with pytest.raises(CommandError, match="not staff") as refused:
        call_command("create_api_token", "member")
    assert refused.value.returncode == 2
    out = StringIO()
    call_command("create_api_token", "member", "--scope", "scanner", "--json", stdout=out)
    assert json.loads(out.getvalue())["scope"] == "scanner"
    assert check_token(json.loads(out.getvalue())["token"]).user == member


def test_tokens_issued_and_revoked_are_in_the_audit_log_without_the_token(operator):
    out = StringIO()
    call_command("create_api_token", "operator", "--name", "deploy", "--json", stdout=out)
    issued = json.loads(out.getvalue())
    prefix = ApiToken.objects.get().prefix
    call_command("revoke_api_tokens", "--prefix", prefix, "--because", "rotated", stdout=StringIO())
    operator.set_password("a-new-password-for-tests")  # nothing left to revoke: nothing audited
    operator.save()

    issue, revoke = OpsRun.objects.order_by("pk")
    assert (issue.operation, issue.door, issue.actor, issue.status) == (
        "issue_api_token",
        "cli",
        command_line_user(),
        "succeeded",
    )
    assert issue.arguments == {"user": "operator", "name": "deploy", "scope": "ops", "prefix": prefix}
    assert issue.summary == f"Issued ops token {prefix}… ('deploy') for operator; never expires."
    assert (revoke.operation, revoke.door) == ("revoke_api_tokens", "cli")
    assert revoke.arguments == {
        "tokens": [{"prefix": prefix, "user": "operator", "name": "deploy"}],
        "because": "rotated",
    }
    assert issued["token"].partition(".")[2] not in json.dumps([issue.arguments, issue.summary, revoke.arguments])


def test_a_password_change_revoking_ops_tokens_is_the_portals_own_audited_doing(operator):
    issue_token(operator, "deploy")
    operator.set_password("a-new-password-for-tests")
    operator.save()
    revoke = OpsRun.objects.get(operation="revoke_api_tokens")
    assert (revoke.door, revoke.actor) == ("portal", "portal")
    assert revoke.summary.endswith("of operator (its user's password changed).")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--prefix", "nope"], "no token with prefix nope: nothing revoked"),
        (["--user", "nobody"], "no user named 'nobody'"),
        (["--prefix", "a\x00b"], "prefix: null characters"),
        (["--user", "operator", "--because", ""], "must say why"),
    ],
)
def test_revoke_command_bad_usage_exits_2_and_revokes_nothing(operator, arguments, message):
    issue_token(operator, "deploy")
    with pytest.raises(CommandError, match=message) as error:
        call_command("revoke_api_tokens", *arguments)
    assert error.value.returncode == 2
    assert ApiToken.objects.get().revoked_at is None
