"""The health endpoints: liveness and readiness for load balancers, the full detail for staff.

- `/health/live/`: 200 `{"status": "ok"}` from this process alone.
- `/health/ready/`: the configured checks (opsadmin/health.py), run concurrently in
  threads, each within its budget; the answer comes within `PORTAL_READINESS_BUDGET`
  (< 1 s) whatever a dependency does, and is reused for
  `PORTAL_READINESS_CACHE_SECONDS`, so any number of probers cause at most one run
  of the checks per period per process.
- `/health/`: django-health-check's own view over the same checks, with every check's
  status, message and timing; a staff session or a bearer token with `opsadmin.view_ops`.

`HealthProbeMiddleware`, first in MIDDLEWARE, answers the two probe paths before any
other middleware runs (no session, auth, CSRF or messages work for a probe). The URL
patterns in opsadmin/health_urls.py point at the same views, so the routes have names
(`manage.py health_check health_ready`) and still work without the middleware.
"""

import asyncio
import contextlib
import dataclasses
import functools
import inspect
import json
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.core.signals import setting_changed
from django.db import connections
from django.http import HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.views import View
from health_check.base import HealthCheckResult
from health_check.exceptions import HealthCheckException, ServiceUnavailable, ServiceWarning
from health_check.views import HealthCheckView

from opsadmin.authentication import authenticated_caller
from opsadmin.health import configured_checks

logger = logging.getLogger(__name__)

LIVE_PATH = "/health/live/"  # the contract's paths (design.md); health_urls.py mounts the same views
READY_PATH = "/health/ready/"
LIVE_BODY = b'{"status": "ok"}'
PROBE_METHODS = ("GET", "HEAD")
DETAIL_PERMISSION = "opsadmin.view_ops"

# Threads that run readiness checks. A sync check's thread can't be killed, so the answer
# never waits for one past its budget; and a check still running from an earlier period is
# not started again (it counts as timed out), so stuck threads stay fewer than the checks.
READINESS_EXECUTOR = ThreadPoolExecutor(max_workers=16, thread_name_prefix="health-ready")
# The detail view's sync checks: its own pool, never shut down per request, so a hung
# check does not hold the response past the library's timeout either.
DETAIL_EXECUTOR = ThreadPoolExecutor(max_workers=8, thread_name_prefix="health-detail")


# --- Running checks -----------------------------------------------------------------

HOST = socket.gethostname()  # as HeartbeatMiddleware names this host
BEAT_WAIT_SECONDS = 0.05

UNEXPECTED_LOG_SECONDS = 60
_unexpected_logged_at = {}  # check name -> when its last traceback was logged


def run_check(check):
    """Run one `NamedCheck` in this thread; a `HealthCheckResult`.

    An async check gets its own event loop (asgiref's, so the thread-sensitive cache calls
    inside it run in this thread) and is cancelled at its budget.
    """
    start = time.perf_counter()
    error = None
    try:
        if inspect.iscoroutinefunction(check.run):
            async_to_sync(_run_async)(check)
        else:
            check.run()
    except HealthCheckException as problem:
        error = problem  # logged by `Readiness` when the answer changes, not on every run
    except Exception:
        error = HealthCheckException("unknown error")
        now = time.monotonic()
        if now - _unexpected_logged_at.get(check.name, -UNEXPECTED_LOG_SECONDS) >= UNEXPECTED_LOG_SECONDS:
            _unexpected_logged_at[check.name] = now  # a traceback per check per minute, not per run
            logger.exception("Unexpected exception in health check %r", check)
    return HealthCheckResult(check=check, error=error, time_taken=time.perf_counter() - start)


def beat_as_web_process(port):
    try:
        from opsadmin.runtime.instances import WEB, record_heartbeat

        record_heartbeat(HOST, port, WEB)  # rate-limited by itself; never raises
    finally:
        connections.close_all()


def run_pooled(check):
    """`run_check` in a pool thread, closing what the check opened there (connections are per thread)."""
    try:
        return run_check(check)
    finally:
        connections.close_all()


async def _run_async(check):
    try:
        await asyncio.wait_for(check.run(), check.budget)
    except TimeoutError as error:
        raise ServiceUnavailable(f"timed out after {check.budget:g} s") from error


@dataclasses.dataclass
class Verdict:
    """The readiness answer: ok, degraded (a non-critical check fails) or unavailable."""

    results: list
    failing: list = dataclasses.field(default_factory=list)
    degraded: list = dataclasses.field(default_factory=list)
    warnings: list = dataclasses.field(default_factory=list)

    @classmethod
    def of(cls, results):
        verdict = cls(results=results)
        for result in results:
            if result.error is None:
                continue
            if isinstance(result.error, ServiceWarning):
                verdict.warnings.append(result.check.name)
            elif result.check.critical:
                verdict.failing.append(result.check.name)
            else:
                verdict.degraded.append(result.check.name)
        return verdict

    @property
    def status(self):
        return "unavailable" if self.failing else "degraded" if self.degraded else "ok"

    @property
    def http_status(self):
        return 503 if self.failing else 200

    def body(self):
        """What a load balancer sees: names only, never a message."""
        if self.failing:
            return {"status": "unavailable", "failing": self.failing}
        if self.degraded:
            return {"status": "degraded", "degraded": self.degraded}
        return {"status": "ok"}

    @functools.cached_property
    def json(self):
        return json.dumps(self.body()).encode()

    @functools.cached_property
    def text(self):
        names = self.failing or self.degraded
        return (self.status + (": " + ", ".join(names) if names else "") + "\n").encode()


def timed_out(check):
    return HealthCheckResult(check=check, error=ServiceUnavailable("timed out"), time_taken=check.budget)


class _Run:
    """One run of the checks that concurrent requests share."""

    def __init__(self):
        self.done = threading.Event()
        self.verdict = None


class Readiness:
    """The checks' latest verdict in this process: cached, and computed by one request at a time.

    The first request after the cached verdict expires runs the checks; requests arriving
    meanwhile wait for that same run (never longer than the budget) and reuse its verdict.
    """

    def __init__(self, executor):
        self.executor = executor
        self.runs = 0  # how many times this process ran the checks (tests and the bench read it)
        self._lock = threading.Lock()
        self._verdict = None
        self._fresh_until = 0.0
        self._run = None
        self._in_flight = {}  # check key -> Future of its latest run
        self._last_summary = None

    def reset(self):
        """Forget the cached verdict (tests; settings changes)."""
        with self._lock:
            self._verdict = None
            self._fresh_until = 0.0

    def verdict(self, port=None):
        """The current verdict; `port`: the port a probe came in on, so this process beats as that instance."""
        with self._lock:
            if self._verdict is not None and time.monotonic() < self._fresh_until:
                return self._verdict
            run = self._run
            leading = run is None
            if leading:
                run = self._run = _Run()
        if not leading:
            if run.done.wait(settings.PORTAL_READINESS_BUDGET + 0.05) and run.verdict is not None:
                return run.verdict
            return Verdict(results=[], failing=["readiness"])  # the leading request vanished: not ready
        try:
            if port:
                self._beat(port)
            run.verdict = self._check()
            self._log_change(run.verdict)
        except Exception:
            logger.exception("Readiness checks could not run")
            run.verdict = Verdict(results=[], failing=["readiness"])
        finally:
            with self._lock:
                if run.verdict is not None:
                    self._verdict = run.verdict
                    self._fresh_until = time.monotonic() + settings.PORTAL_READINESS_CACHE_SECONDS
                self._run = None
            run.done.set()
        return run.verdict

    def _beat(self, port):
        """This process's heartbeat as HOST:port, from a pool thread, before the checks run.

        HeartbeatMiddleware, which beats on every other request, never sees a probe (the probe
        middleware answers first). Without this, a process that only ever gets probes (a drained
        instance after a restart: the load balancer sends it nothing else) would never learn
        which instance it is, and its drain check would answer "not draining". The heartbeat
        names the instance before it writes anything, so a short wait is enough even when the
        database hangs; the write itself never delays the answer.
        """
        wait([self.executor.submit(beat_as_web_process, port)], timeout=BEAT_WAIT_SECONDS)

    def _log_change(self, verdict):
        """One log line when the answer changes, rather than a line per check per run or per 503 probe."""
        summary = (verdict.status, tuple(verdict.failing), tuple(verdict.degraded), tuple(verdict.warnings))
        if summary == self._last_summary:
            return
        self._last_summary = summary
        problems = "; ".join(f"{result.check.name}: {result.error}" for result in verdict.results if result.error)
        level = logging.WARNING if verdict.failing or verdict.degraded else logging.INFO
        logger.log(level, "Readiness is %s%s", verdict.status, f" ({problems})" if problems else "")

    def _check(self):
        self.runs += 1
        checks = configured_checks()
        futures = {}
        for check in checks:
            previous = self._in_flight.get(check.key)
            if previous is not None and not previous.done():
                continue  # still stuck since an earlier period: timed out again, not started twice
            futures[check.key] = self._in_flight[check.key] = self.executor.submit(run_pooled, check)
        budget = max((check.budget for check in checks), default=0)
        wait(futures.values(), timeout=min(budget, settings.PORTAL_READINESS_BUDGET))
        results = []
        for check in checks:
            future = futures.get(check.key)
            if future is None or not future.done():
                results.append(timed_out(check))
                continue
            result = future.result()
            results.append(timed_out(check) if result.time_taken > check.budget else result)
        return Verdict.of(results)


readiness = Readiness(READINESS_EXECUTOR)


def _forget_verdict(setting, **kwargs):
    if setting.startswith(("PORTAL_HEALTH", "PORTAL_READINESS", "PORTAL_CRITICAL")):
        readiness.reset()


setting_changed.connect(_forget_verdict)


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
        verdict = readiness.verdict(port=request.META.get("SERVER_PORT"))
        if wants_text(request):
            response = probe_response(verdict.text, "text/plain; charset=utf-8", verdict.http_status)
        else:
            response = probe_response(verdict.json, "application/json", verdict.http_status)
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
        if probe is None:
            return self.get_response(request)
        return probe(request)


# --- The detail ---------------------------------------------------------------------


def refusal(request):
    """401/403 with a tiny body for anyone but a staff session or token holder with view_ops."""
    user, _token = authenticated_caller(request)
    if user is None:
        response = JsonResponse({"error": "authentication required"}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="ops"'
        return response
    if not user.has_perm(DETAIL_PERMISSION):
        return JsonResponse({"error": "permission required"}, status=403)
    return None


class HealthDetailView(HealthCheckView):
    """django-health-check's view over the configured checks, for staff and token holders.

    A fresh run per request (no cache: this is for people). Every check appears under its
    name with its status, message and timing (HTML, text, JSON, OpenMetrics, feeds). The
    status code follows readiness: 503 when a critical check fails, else 200 (warnings and
    failing non-critical checks are in the body).
    """

    async def get(self, request, *args, **kwargs):
        denied = await sync_to_async(refusal)(request)
        if denied is not None:
            return denied
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
        checks = {}
        for result in self.results:
            if result.error is None:
                state = "ok"
            elif isinstance(result.error, ServiceWarning):
                state = "warning"
            else:
                state = "failing"
            checks[result.check.name] = {
                "status": state,
                "critical": result.check.critical,
                "message": str(result.error) if result.error else "OK",
                "seconds": round(result.time_taken, 4),
            }
        body = {"status": verdict.status, "failing": verdict.failing, "degraded": verdict.degraded}
        return JsonResponse({**body, "warnings": verdict.warnings, "checks": checks}, status=status)
