"""The scanner API as one NinjaAPI: who may call and how often, and every error as JSON.

Every endpoint is metered the same way before its parameters are read: the caller (a scanner
token, a session, or nobody: an anonymous caller counts by address) is identified, one request is
counted against its tier (stocks/rate_limits.py), and the answer carries what is left. A bad
parameter still counts: it cost a request. The usage endpoint alone counts nothing.
Errors name what is wrong: 400 with each bad parameter, 404 for an unknown stock, 429 over a limit.
"""

import functools

from django.http import HttpResponseNotAllowed, JsonResponse
from ninja import NinjaAPI
from ninja.errors import ValidationError

from portal.accounts.access import SCANNER, Refusal, authorize
from stocks import rate_limits
from stocks.api.endpoints import NoBars, StockNotFound, router
from stocks.api.parameters import BadParameters

UNCOUNTED = frozenset({"usage"})

api = NinjaAPI(
    title="Stock scanner API",
    version="1",
    description="Screens, stocks, daily bars and movers. Call with `Authorization: Bearer <scanner token>`, "
    "a session, or anonymously; each caller's requests are limited per minute and per day by its membership "
    "tier (`GET /api/usage/`), and every answer says what is left in `RateLimit-*` headers.",
    urls_namespace="scanner",
    openapi_url="/schema/",
    docs_url="/docs/",
)


def metered(run):
    """Let the caller in, count the request against its tier, and put its limits on the answer."""

    @functools.wraps(run)
    def call(request, *args, **kwargs):
        try:
            caller = authorize(request, surface=SCANNER, anonymous=True)
        except Refusal as refusal:
            return refusal.response()
        request.scanner_identity = rate_limits.identify(request, caller)
        if request.resolver_match.url_name in UNCOUNTED:
            return run(request, *args, **kwargs)
        usage = rate_limits.hit(request.scanner_identity)
        if not usage.admitted:
            return rate_limits.refusal(usage)
        response = run(request, *args, **kwargs)
        for header, value in rate_limits.headers(usage).items():
            response[header] = value
        return response

    return call


api.add_decorator(metered, mode="operation")
api.add_router("/", router)


def _answering_wrong_methods_in_json(urls):
    """`urls` (api.urls) with each view's 405, which ninja answers in plain text, answered in JSON."""
    patterns, app_name, namespace = urls
    for pattern in patterns:
        pattern.callback = _json_405(pattern.callback)
    return patterns, app_name, namespace


def _json_405(view):
    @functools.wraps(view)
    def call(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if isinstance(response, HttpResponseNotAllowed):
            allowed = response["Allow"]
            response = _error(405, f"{request.method[:10]} is not allowed here: use {allowed}")
            response["Allow"] = allowed
        return response

    return call


def _error(status, message, **extra):
    return JsonResponse({"error": message, **extra}, status=status)


@api.exception_handler(ValidationError)
def invalid_parameters(request, error):
    """Pydantic's errors by parameter: `fields` for any item of a repeated one, the item named in the message."""
    fields = {}
    for problem in error.errors:
        source, *path = problem["loc"]
        path = [part for part in path if part != source]  # ninja repeats the source for a schema of parameters
        name, item = (str(path[0]) if path else source), path[1] if len(path) > 1 else None
        message = f"item {item + 1}: {problem['msg']}" if isinstance(item, int) else problem["msg"]
        fields.setdefault(name, []).append(message)
    return _error(400, "invalid parameters", fields=fields)


@api.exception_handler(BadParameters)
def parameters_in_conflict(request, error):
    return _error(400, "invalid parameters", fields=error.fields)


@api.exception_handler(StockNotFound)
def unknown_stock(request, error):
    return _error(404, f"no listed stock {str(error)[:20]!r}")


@api.exception_handler(NoBars)
def no_bars(request, error):
    return _error(404, str(error))


urls = _answering_wrong_methods_in_json(api.urls)
