"""Issuing and checking API tokens.

A token reads `<prefix>.<secret>`: the prefix finds the row by its unique index, the
SHA-256 digest of the whole token is compared in constant time. Tokens are random
256-bit values, so a fast hash is enough (there is nothing to brute-force).

A password change revokes the user's ops tokens, as it ends the user's sessions: Django
tells every password validator when a password changes (`password_changed`), and
`EndOpsTokensOnPasswordChange` is listed among them. A hash upgraded at login is no change.

Issuing and revoking send portal.accounts.signals, with who did it and from where: the
ops portal audits both.
"""

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.utils import timezone

from portal.accounts.models import ApiToken
from portal.accounts.signals import token_issued, tokens_revoked

PREFIX_BYTES = 6
SECRET_BYTES = 32
LAST_USED_RESOLUTION = timedelta(minutes=1)
PASSWORD_CHANGED = "its user's password changed"


class InvalidToken(Exception):
    """The presented token is malformed, unknown, revoked, expired, or its user can no longer use it."""


def digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


def new_token_value():
    """A fresh (prefix, token) pair."""
    prefix = secrets.token_hex(PREFIX_BYTES)
    return prefix, f"{prefix}.{secrets.token_urlsafe(SECRET_BYTES)}"


def prepare_token(record):
    """Fill a new ApiToken's prefix and digest; returns the token, which is never stored."""
    record.prefix, token = new_token_value()
    record.digest = digest(token)
    return token


def issue_token(user, name, expires_in=None, scope=ApiToken.Scope.OPS, *, by=None, door="cli"):
    """Create a token for `user`; returns (ApiToken, token)."""
    expires_at = timezone.now() + expires_in if expires_in else None
    record = ApiToken(user=user, name=name, scope=scope, expires_at=expires_at)
    return record, save_new_token(record, by=by, door=door)


def save_new_token(record, *, by, door):
    """Give a new ApiToken its prefix and digest and save it, saying so; returns the token, never stored."""
    token = prepare_token(record)
    record.save()
    token_issued.send(ApiToken, token=record, by=by, door=door)
    return token


def check_token(token):
    """The ApiToken behind `token`, or InvalidToken. Records when it was last used."""
    prefix, dot, _ = token.partition(".")
    if not dot or not prefix:
        raise InvalidToken("malformed token")
    record = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    # Compare against a dummy digest when unknown, so timing does not reveal which prefixes exist.
    expected = record.digest if record else digest("")
    if not hmac.compare_digest(expected, digest(token)) or record is None:
        raise InvalidToken("unknown token")
    now = timezone.now()
    if not record.is_usable(now) or not record.user.is_active:
        raise InvalidToken("token revoked or expired")
    if record.last_used_at is None or now - record.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=record.pk).update(last_used_at=now)
    return record


def revoke_tokens(queryset, because="revoked by an administrator", *, by=None, door="cli"):
    """Revoke every token in `queryset` that is not revoked yet, saying why; returns how many."""
    revoked = list(queryset.filter(revoked_at=None).select_related("user"))
    now = timezone.now()
    count = ApiToken.objects.filter(pk__in=[token.pk for token in revoked], revoked_at=None).update(
        revoked_at=now, revoked_because=because
    )
    if revoked:
        tokens_revoked.send(ApiToken, tokens=revoked, because=because, by=by, door=door)
    return count


class EndOpsTokensOnPasswordChange:
    """Listed in AUTH_PASSWORD_VALIDATORS for Django's `password_changed` call; it refuses no password."""

    def validate(self, password, user=None):
        return None

    def password_changed(self, password, user=None):
        if user is not None and user.pk is not None:
            ops_tokens = ApiToken.objects.filter(user=user, scope=ApiToken.Scope.OPS)
            revoke_tokens(ops_tokens, PASSWORD_CHANGED, door="portal")

    def get_help_text(self):
        return "Changing your password revokes your ops API tokens."
