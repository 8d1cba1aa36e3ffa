"""The access policy of every HTTP surface: who may call, and the answer when they may not.

- 401 with `WWW-Authenticate: Bearer` when credentials are missing or can't be used
  (malformed, unknown, revoked, expired, void after a password change, inactive user);
- 403 for an authenticated caller who may not do this: a token of another scope, a user
  who is not staff (a session or a token of a demoted user), a missing permission, or a
  session write without its CSRF token.

Every refusal is the same small JSON body, `{"error": "<why in a few words>"}`, never a
page, never cached, and never anything about the server.
"""

from dataclasses import dataclass

from django.http import JsonResponse
from django.middleware.csrf import CsrfViewMiddleware

from portal.accounts.callers import BadCredentials, calling
from portal.accounts.models import ApiToken

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class Refusal(Exception):
    """Why a request may not go on, as the JSON response that says so."""

    def __init__(self, status, message, *, challenge=None, **extra):
        super().__init__(message)
        self.status, self.message, self.challenge, self.extra = status, message, challenge, extra

    def response(self):
        response = JsonResponse({"error": self.message, **self.extra}, status=self.status)
        response["Cache-Control"] = "no-store"
        if self.challenge:
            response["WWW-Authenticate"] = self.challenge
        return response


@dataclass(frozen=True)
class Surface:
    """One kind of HTTP surface: the token scope it accepts, and whether its callers must be staff."""

    scope: str
    staff_only: bool


OPS = Surface(ApiToken.Scope.OPS, staff_only=True)  # the ops API, the health detail, /metrics
SCANNER = Surface(ApiToken.Scope.SCANNER, staff_only=False)  # the scanner API


def authorize(request, permission=None, surface=OPS, *, anonymous=False):
    """The Caller allowed on `surface` with `permission` (a full name, "app.codename"; None: any caller),
    else raise Refusal. With `anonymous`, a request without credentials is let in as None.

    Callers are a session (CSRF enforced on writes) or a bearer token of the surface's scope,
    of an active user; staff only where the surface says so.
    """
    try:
        caller = calling(request)
    except BadCredentials as bad:
        raise Refusal(401, bad.short, challenge=f'Bearer realm="{surface.scope}", error="invalid_token"') from None
    if caller is None:
        if anonymous:
            return None
        raise Refusal(401, "authentication required", challenge=f'Bearer realm="{surface.scope}"')
    if caller.token is not None and caller.token.scope != surface.scope:
        raise Refusal(403, f"token not valid for the {surface.scope} API")
    if surface.staff_only and not caller.user.is_staff:
        raise Refusal(403, "staff only")
    if caller.token is None and request.method not in SAFE_METHODS and _csrf_rejected(request):
        raise Refusal(403, "CSRF check failed: send X-CSRFToken with the csrftoken cookie")
    if permission and not caller.user.has_perm(permission):
        raise Refusal(403, "permission required", permission=permission)
    return caller


def _csrf_rejected(request):
    """Django's own CSRF check, for session callers only (a token request has no cookies to ride on)."""
    return CsrfViewMiddleware(lambda request: None).process_view(request, None, (), {}) is not None
