"""Issuing and checking API tokens.

A token reads `<prefix>.<secret>`: the prefix finds the row by its unique index, the
SHA-256 digest of the whole token is compared in constant time. Tokens are random
256-bit values, so a fast hash is enough (there is nothing to brute-force).

An ops token ends when its user's password changes, as the user's sessions do: it
keeps an HMAC of the password hash from when it was issued (with SECRET_KEY, and
SECRET_KEY_FALLBACKS while a key is being rotated).
"""

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.crypto import salted_hmac

from portal.accounts.models import ApiToken

PREFIX_BYTES = 6
SECRET_BYTES = 32
LAST_USED_RESOLUTION = timedelta(minutes=1)
FINGERPRINT_SALT = "portal.accounts.ApiToken.password_fingerprint"


class InvalidToken(Exception):
    """The presented token is malformed, unknown, revoked, expired, or its user can no longer use it."""


def digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


def new_token_value():
    """A fresh (prefix, token) pair."""
    prefix = secrets.token_hex(PREFIX_BYTES)
    return prefix, f"{prefix}.{secrets.token_urlsafe(SECRET_BYTES)}"


def password_fingerprint(user, secret=None):
    """An HMAC of the user's password hash: it changes when the password does."""
    return salted_hmac(FINGERPRINT_SALT, user.password, secret=secret, algorithm="sha256").hexdigest()


def prepare_token(record):
    """Fill a new ApiToken's prefix, digest and fingerprint; returns the token, which is never stored."""
    record.prefix, token = new_token_value()
    record.digest = digest(token)
    record.password_fingerprint = password_fingerprint(record.user) if record.scope == ApiToken.Scope.OPS else ""
    return token


def issue_token(user, name, expires_in=None, scope=ApiToken.Scope.OPS):
    """Create a token for `user`; returns (ApiToken, token)."""
    expires_at = timezone.now() + expires_in if expires_in else None
    record = ApiToken(user=user, name=name, scope=scope, expires_at=expires_at)
    token = prepare_token(record)
    record.save()
    return record, token


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
    if record.scope == ApiToken.Scope.OPS and not password_still_matches(record):
        raise InvalidToken("token issued before its user's password changed")
    if record.last_used_at is None or now - record.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=record.pk).update(last_used_at=now)
    return record


def password_still_matches(record):
    """Whether the user's password is the one the token was issued under (any key being rotated counts)."""
    secrets_in_use = [None, *settings.SECRET_KEY_FALLBACKS]
    return any(
        hmac.compare_digest(record.password_fingerprint, password_fingerprint(record.user, secret))
        for secret in secrets_in_use
    )


def revoke_tokens(queryset):
    """Revoke every token in `queryset` that is not revoked yet; returns how many."""
    return queryset.filter(revoked_at=None).update(revoked_at=timezone.now())
