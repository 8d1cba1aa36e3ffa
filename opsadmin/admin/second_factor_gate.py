"""The second-factor gate (settings.MIDDLEWARE, after django-otp's): with PORTAL_OTP_REQUIRED, a session of
someone who holds an ops write permission goes no further until this session gave a second factor.

Pages are redirected to the verify page (or to enrolment, without a device); the JSON surfaces
(the ops API, the health detail, /metrics) answer 403 in the access policy's words, never a page. Only
the pages that lead to a second factor, and logging out, stay open. A bearer-token call is
never asked: a token is already a second, revocable credential. Nor is a user that is not
stored (the gunicorn master's warm-up, portal/warm_up.py): no login, no session, can make one.
"""

from django.conf import settings
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django_otp import user_has_device

from opsadmin.spine.permissions import holds_write_permission
from portal.accounts.access import Refusal
from portal.accounts.callers import BadCredentials, bearer_token

JSON_PREFIXES = ("/api/", "/health/", "/metrics")
OPEN_PAGES = ("admin:login", "admin:logout", "admin:jsi18n", "admin:second_factor", "admin:second_factor_verify")


class SecondFactorGate:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.PORTAL_OTP_REQUIRED and _must_verify(request):
            return _stop(request)
        return self.get_response(request)


def _must_verify(request):
    if _bearer_call(request) or request.path in {reverse(name) for name in OPEN_PAGES}:
        return False
    user = request.user
    stored = user.is_authenticated and user.pk is not None
    return stored and not user.is_verified() and holds_write_permission(user)


def _bearer_call(request):
    try:
        return bearer_token(request) is not None
    except BadCredentials:
        return True  # the access policy refuses it, with 401


def _stop(request):
    if request.path.startswith(JSON_PREFIXES):
        return Refusal(403, "second factor required: verify in the admin first").response()
    page = "admin:second_factor_verify" if user_has_device(request.user) else "admin:second_factor"
    return redirect(f"{reverse(page)}?{urlencode({'next': request.get_full_path()})}")
