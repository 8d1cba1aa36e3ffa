"""The project's error answers: JSON under /api/ (an API never answers with a page), Django's pages elsewhere."""

from django.http import JsonResponse
from django.views import defaults

API_PREFIX = "/api/"


def _json_under_api(page, status, message):
    def handler(request, *args, **kwargs):
        if request.path.startswith(API_PREFIX):
            return JsonResponse({"error": message}, status=status)
        return page(request, *args, **kwargs)

    return handler


bad_request = _json_under_api(defaults.bad_request, 400, "bad request")
permission_denied = _json_under_api(defaults.permission_denied, 403, "permission denied")
page_not_found = _json_under_api(defaults.page_not_found, 404, "not found")
server_error = _json_under_api(defaults.server_error, 500, "internal error: see the server's log")
