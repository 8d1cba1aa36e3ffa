"""The health endpoints: liveness and readiness for load balancers, the full detail for staff.

- `/health/live/`: 200 `{"status": "ok"}` from this process alone.
- `/health/ready/`: the readiness verdict (opsadmin/health/readiness.py): 200 ok or
  degraded, 503 unavailable (Retry-After: when the verdict is next computed), with check names
  only; answered within a second.
- `/health/`: django-health-check's own view over the same checks, with every check's
  status, message and timing; for callers the access policy lets read ops
  (portal/accounts/access.py): a staff session or an ops token with `opsadmin.view_ops`.

`HealthProbeMiddleware`, first in MIDDLEWARE, answers the two probe paths before any
other middleware runs (no session, auth, CSRF or messages work for a probe). Under gunicorn
the probes also have a listener of their own, served by threads of their own
(portal/probe_worker.py); that port answers nothing else. The URL
patterns in opsadmin/health/urls.py point at the same views, so the routes have names
(`manage.py health_check health_ready`) and still work without the middleware.
"""

import contextlib
import math
from dataclasses import asdict

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.views import View
from health_check.views import HealthCheckView

from opsadmin.health.checks import configured_checks
from opsadmin.health.readiness import Verdict, readiness
from opsadmin.runtime.thread_pools import ForkSafeThreadPool
from portal.accounts.access import Refusal, authorize

LIVE_PATH = "/health/live/"  # the paths load balancers are configured with; urls.py mounts the same views
READY_PATH = "/health/ready/"
LIVE_BODY = b'{"status": "ok"}'
PROBE_METHODS = ("GET", "HEAD")
PROBE_PORT_ONLY = b'{"error": "not found: this port answers /health/live/ and /health/ready/ only"}'
DETAIL_PERMISSION = "opsadmin.view_ops"

# The detail view's sync checks: its own pool, never shut down per request, so a hung
# check does not hold the response past the library's timeout either.
DETAIL_EXECUTOR = ForkSafeThreadPool(max_workers=8, thread_name_prefix="health-detail")


# --- Load-balancer probes -----------------------------------------------------------


def probe_response(content, content_type, status=200):
    """A probe's answer: no caching anywhere, and its length (CommonMiddleware, which would add it, is skipped)."""
    response = HttpResponse(content, content_type=content_type, status=status)
    response["Cache-Control"] = "no-store"
    response["Content-Length"] = str(len(content))
    return response


def live(request):
    """200 while this process can serve; nothing outside the process is asked."""
    if request.method not in PROBE_METHODS:
        return HttpResponseNotAllowed(PROBE_METHODS)
    return probe_response(LIVE_BODY, "application/json")


def wants_text(request):
    """`Accept: text/plain` without JSON: django-health-check's `health_check` command."""
    accept = request.META.get("HTTP_ACCEPT", "")
    return "text/plain" in accept and "json" not in accept


class ReadinessView(View):
    """200 ok / 200 degraded / 503 unavailable, with check names only; text for `Accept: text/plain`."""

    http_method_names = ["get", "head"]

    def get(self, request):
        # Shared by every request until it expires, bodies included.
        verdict = readiness.verdict(beat=True)
        if wants_text(request):
            response = probe_response(verdict.text, "text/plain; charset=utf-8", verdict.http_status)
        else:
            response = probe_response(verdict.json, "application/json", verdict.http_status)
        if verdict.http_status == 503:  # asking again is worth it once this verdict has expired
            response["Retry-After"] = str(max(1, math.ceil(settings.PORTAL_READINESS_CACHE_SECONDS)))
        # A 503 here is an answer, not a server error: `Readiness` logs changes once instead
        # of django.request logging an error for every probe of a draining instance.
        response._has_been_logged = True
        return response

    def get_checks(self):
        """The checks behind this route, for `manage.py health_check health_ready --no-http`."""
        return configured_checks()


ready = ReadinessView.as_view()


class HealthProbeMiddleware:
    """Answers /health/live/ and /health/ready/ itself. Put it first in MIDDLEWARE.

    Probes then pay for no other middleware: no session, user, CSRF or messages work,
    no cookies and no `Vary: Cookie`. Host validation is skipped too (load balancers
    often probe by IP address); the bodies carry nothing but the status and check names.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.probes = {LIVE_PATH: live, READY_PATH: ready}

    def __call__(self, request):
        probe = self.probes.get(request.path_info)
        if probe is not None:
            return probe(request)
        if on_probe_listener(request):
            return probe_response(PROBE_PORT_ONLY, "application/json", status=404)
        return self.get_response(request)


def on_probe_listener(request):
    """Whether the request came in on the probes' own listener (PORTAL_PROBE_PORT, under gunicorn)."""
    return bool(settings.PORTAL_PROBE_PORT) and request.META.get("SERVER_PORT") == settings.PORTAL_PROBE_PORT


# --- The detail ---------------------------------------------------------------------


def refusal(request):
    """The access policy's answer for a caller who may not read the detail, or None."""
    try:
        authorize(request, DETAIL_PERMISSION)
    except Refusal as refused:
        return refused.response()
    return None


class HealthDetailView(HealthCheckView):
    """django-health-check's view over the configured checks, for staff and ops tokens.

    A fresh run per request (no cache: this is for people). Every check appears under its
    name with its status, message and timing (JSON unless a format is asked for: HTML for
    browsers, text, OpenMetrics, feeds, or `?format=`). The
    status code follows readiness: 503 when a critical check fails, else 200 (warnings and
    failing non-critical checks are in the body, in the portal's status words).
    """

    async def get(self, request, *args, **kwargs):
        denied = await sync_to_async(refusal)(request)
        if denied is not None:
            return denied
        if "format" not in request.GET and request.headers.get("accept", "*/*").strip() in ("", "*/*"):
            # A client that names no format (curl, a script) gets JSON; browsers ask for HTML and get it.
            request.GET = request.GET.copy()
            request.GET["format"] = "json"
        response = await super().get(request, *args, **kwargs)
        if response.status_code in (200, 500):  # the library's "all ok" / "something raised"
            response.status_code = Verdict.of(self.results).http_status
        return response

    def get_checks(self):
        return configured_checks()

    def get_executor(self):
        return contextlib.nullcontext(DETAIL_EXECUTOR)

    def render_to_response_json(self, status):
        verdict = Verdict.of(self.results)
        checks = {check.name: {k: v for k, v in asdict(check).items() if k != "name"} for check in verdict.checks()}
        body = {"status": verdict.health, "readiness": verdict.status, "failing": verdict.failing}
        body |= {"degraded": verdict.degraded, "warnings": verdict.warnings, "checks": checks}
        return JsonResponse(body, status=status)
