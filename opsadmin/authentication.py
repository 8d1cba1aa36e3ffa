"""Who is calling the ops API and the detailed health view: a staff session or a bearer token.

Returns the user (with that user's permissions) or None. A session request that
writes must also pass CSRF, which the views enforce; a token request carries no
cookies, so it needs no CSRF check.
"""

from opsadmin.tokens import InvalidToken, check_token

BEARER = "bearer "


def bearer_token(request):
    """The token from `Authorization: Bearer <token>`; '' for no header or another scheme (a proxy's
    Basic auth must not hide a staff session), None for a Bearer header without a token."""
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith(BEARER.strip()):
        return ""
    return header[len(BEARER) :].strip() or None


def authenticated_caller(request):
    """(user, token record) for a token, (user, None) for a staff session, else (None, None)."""
    token = bearer_token(request)
    if token:
        try:
            record = check_token(token)
        except InvalidToken:
            return None, None
        return record.user, record
    if token is None:
        return None, None
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_active and user.is_staff:
        return user, None
    return None, None
