"""Who is calling: the bearer token of `Authorization: Bearer <token>`, or the session's user.

Only the exact form counts as a bearer token (the scheme in any case, one space, one
token of RFC 6750's characters): `BearerX<token>` or a token with spaces is not one. A
header of another scheme is ignored, so a proxy's Basic auth does not hide a session.
"""

import re
from dataclasses import dataclass

from portal.accounts.models import ApiToken
from portal.accounts.tokens import InvalidToken, check_token

BEARER_SCHEME = "bearer"
TOKEN_SYNTAX = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750 b64token


class BadCredentials(Exception):
    """A bearer token was presented and can't be used: `short` is what a refusal may say about it.

    The message (for logs) says why; the refusal never tells an unknown token from a
    revoked or expired one.
    """

    def __init__(self, message, short="invalid token"):
        super().__init__(message)
        self.short = short


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: a user, and the token it came with (None for a session)."""

    user: object
    token: ApiToken | None = None

    @property
    def label(self):
        """How the audit log names this caller: the user, and the token's prefix when there is one."""
        name = self.user.get_username()
        return f"{name} (token {self.token.prefix})" if self.token else name


def bearer_token(request):
    """The token of an `Authorization: Bearer` header; None without one (or with another scheme).

    Raises BadCredentials for a Bearer header that is not exactly `Bearer <token>`.
    """
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, rest = header.partition(" ")
    if scheme.lower() != BEARER_SCHEME:
        return None
    if not TOKEN_SYNTAX.fullmatch(rest):
        raise BadCredentials("malformed Authorization header", short="malformed Authorization header")
    return rest


def calling(request):
    """The Caller of `request`: its bearer token's user, else its session's user; None for nobody.

    Raises BadCredentials when a bearer token is malformed, unknown, revoked, expired or void.
    """
    token = bearer_token(request)
    if token is not None:
        try:
            record = check_token(token)
        except InvalidToken as invalid:
            raise BadCredentials(str(invalid)) from None
        return Caller(record.user, record)
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_active:
        return Caller(user)
    return None
