"""The project's error answers: JSON under /api/ (an API never answers with a page), the admin's own
styled page for staff refused inside the admin, Django's pages elsewhere."""

from django.contrib import admin
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views import defaults

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


bad_request = _json_under_api(defaults.bad_request, 400, "bad request")
permission_denied = _json_under_api(_admin_refusal, 403, "permission denied")
page_not_found = _json_under_api(defaults.page_not_found, 404, "not found")
server_error = _json_under_api(defaults.server_error, 500, "internal error: see the server's log")
