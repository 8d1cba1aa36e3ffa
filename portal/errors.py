"""The project's error answers: JSON under /api/ (an API never answers with a page), the admin's own
styled page for staff refused inside the admin, Django's pages elsewhere; and 503, never a 500, while a
dependency is out (a circuit breaker's `Unavailable`), from a view or from a middleware."""

import sys

from django.contrib import admin
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views import defaults

from opsadmin.runtime import breakers

API_PREFIX = "/api/"


def _json_under_api(page, status, message):
    def handler(request, *args, **kwargs):
        if request.path.startswith(API_PREFIX):
            return JsonResponse({"error": message}, status=status)
        return page(request, *args, **kwargs)

    return handler


def _admin_refusal(request, exception=None):
    """Staff refused a page of the admin see the admin around the refusal: what they lack, and a way back."""
    user = getattr(request, "user", None)
    if not (request.path.startswith(reverse("admin:index")) and user is not None and user.is_active and user.is_staff):
        return defaults.permission_denied(request, exception)
    context = {**admin.site.each_context(request), "title": "Not allowed", "reason": str(exception or "")}
    return TemplateResponse(request, "admin/403.html", context, status=403).render()


def unavailable(request, error):
    """503 for `error` (breakers.Unavailable): JSON under /api/, else a plain page; `Retry-After` on both.

    The page is rendered without the request: no user, no session, no admin context, nothing
    that would need the database that is out. Not logged per request: the breaker logs its
    changes of state once.
    """
    reason = "not answering" if error.state == breakers.CLOSED else f"circuit breaker {error.state}"
    if request.path.startswith(API_PREFIX):
        body = {"error": f"{error.breaker} unavailable: {reason}", "breaker": error.breaker}
        response = JsonResponse({**body, "retry_after": error.retry_after}, status=503)
    else:
        context = {"breaker": error.breaker, "reason": reason, "retry_after": error.retry_after}
        response = HttpResponse(render_to_string("503.html", context), status=503)
    response["Retry-After"] = str(error.retry_after)
    response._has_been_logged = True  # django.request would log each 503 as an error
    return response


class UnavailableMiddleware:
    """A view that needs a dependency that is out answers 503 (last in MIDDLEWARE: it sees the view's error first)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, breakers.Unavailable):
            return unavailable(request, exception)
        return None


bad_request = _json_under_api(defaults.bad_request, 400, "bad request")
permission_denied = _json_under_api(_admin_refusal, 403, "permission denied")
page_not_found = _json_under_api(defaults.page_not_found, 404, "not found")
_internal_error = _json_under_api(defaults.server_error, 500, "internal error: see the server's log")


def server_error(request, *args, **kwargs):
    """500, unless a dependency is out (another middleware needed it: a session saved after the view): 503.

    Django calls the 500 handler while it handles the exception, so `sys.exception()` is it.
    """
    error = sys.exception()
    if isinstance(error, breakers.Unavailable):
        return unavailable(request, error)
    return _internal_error(request, *args, **kwargs)
