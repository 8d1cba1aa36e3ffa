"""Readiness: the configured checks run concurrently, each within its budget, into one verdict.

The verdict answers within `PORTAL_READINESS_BUDGET` (< 1 s) whatever a dependency does,
and is reused for `PORTAL_READINESS_CACHE_SECONDS`, so any number of probers cause at
most one run of the checks per period per process. Load balancers read it at
/health/ready/ (opsadmin/health/views.py); the health capability shows it to staff.

A check's status in the portal's vocabulary (opsadmin.spine.results): ok, warning (it
warned: never fails readiness), degraded (a non-critical check fails) or failing (a
critical check fails, or a check overran its budget).
"""

import asyncio
import dataclasses
import functools
import inspect
import json
import logging
import threading
import time
from concurrent.futures import wait

from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.signals import setting_changed
from django.db import DatabaseError
from health_check.base import HealthCheckResult
from health_check.exceptions import HealthCheckException, ServiceUnavailable, ServiceWarning

from opsadmin.health.checks import Draining, configured_checks
from opsadmin.runtime import breakers, thread_connections
from opsadmin.runtime.heartbeat import beat_as_web_process
from opsadmin.runtime.metrics import readiness_computed
from opsadmin.runtime.postgresql import deadlines
from opsadmin.runtime.thread_pools import ForkSafeThreadPool
from opsadmin.spine.results import DEGRADED, DRAINING, FAILING, OK, WARNING
from portal import shutting_down

logger = logging.getLogger(__name__)

# Threads that run readiness checks. A sync check's thread can't be killed, so the answer
# never waits for one past its budget; and a check still running from an earlier period is
# not started again (it counts as timed out), so stuck threads stay fewer than the checks.
READINESS_EXECUTOR = ForkSafeThreadPool(max_workers=16, thread_name_prefix="health-ready")

# The checks that read the database (and the probes' heartbeat) have threads of their own, few and long-lived:
# each keeps its connection from one run to the next (thread_connections), so a steady stream of probes opens
# none, and the instance's connection budget counts them (docs/deployment.md). Checks queue for them; one
# that has not started by the answer's budget counts as timed out, like one still running.
DATABASE_CHECK_THREADS = 2
DATABASE_CHECK_EXECUTOR = ForkSafeThreadPool(
    max_workers=DATABASE_CHECK_THREADS,
    thread_name_prefix="health-db",
    initializer=thread_connections.serve,
    initargs=(thread_connections.CHECK,),
)


# --- Running checks -----------------------------------------------------------------

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
    except (breakers.Unavailable, DatabaseError) as problem:  # a dependency out: the check's answer, not a crash
        error = ServiceUnavailable(str(problem).partition("\n")[0] or type(problem).__name__)
    except Exception:
        error = HealthCheckException("unknown error")
        now = time.monotonic()
        if now - _unexpected_logged_at.get(check.name, -UNEXPECTED_LOG_SECONDS) >= UNEXPECTED_LOG_SECONDS:
            _unexpected_logged_at[check.name] = now  # a traceback per check per minute, not per run
            logger.exception("Unexpected exception in health check %r", check)
    return HealthCheckResult(check=check, error=error, time_taken=time.perf_counter() - start)


def beat_from_pool():
    """This process's web heartbeat from a database check thread, which keeps its connection if it still works."""
    try:
        beat_as_web_process()  # rate-limited by itself; never raises
    finally:
        thread_connections.done()


def run_pooled(check):
    """`run_check` in a pool thread; then the thread's connections are kept (a database check thread's, while they
    work) or closed (thread_connections.done).

    Its database waits end at the check's budget, tidying included, so a hung server does not keep the thread
    long after.
    """
    with deadlines.within(check.budget):
        try:
            return run_check(check)
        finally:
            thread_connections.done()


async def _run_async(check):
    try:
        await asyncio.wait_for(check.run(), check.budget)
    except TimeoutError as error:
        raise ServiceUnavailable(f"timed out after {check.budget:g} s") from error


@dataclasses.dataclass
class CheckStatus:
    """One check as staff read it: its status word, its message ("" when ok) and its time."""

    name: str
    critical: bool
    status: str  # ok, warning, degraded, draining or failing
    message: str
    seconds: float


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
        """The load balancers' word (the /health/ready/ contract): ok, degraded or unavailable."""
        return "unavailable" if self.failing else "degraded" if self.degraded else "ok"

    @property
    def drained_only(self):
        """Out of the load balancer on purpose: every failing check is a drain check."""
        failing = [result for result in self.results if result.check.name in self.failing]
        return bool(failing) and all(_status_of(result) == DRAINING for result in failing)

    @property
    def health(self):
        """The portal's status word for the whole: draining (on purpose), failing, degraded, warning or ok."""
        if self.drained_only and not self.degraded:
            return DRAINING
        return FAILING if self.failing else DEGRADED if self.degraded else WARNING if self.warnings else OK

    def checks(self):
        """Every check's CheckStatus, in the configured order."""
        return [
            CheckStatus(
                name=result.check.name,
                critical=result.check.critical,
                status=_status_of(result),
                message=str(result.error) if result.error else "",
                seconds=round(result.time_taken, 4),
            )
            for result in self.results
        ]

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


def _status_of(result):
    """ok, warning, degraded (a non-critical check failing), draining (on purpose) or failing (a critical one)."""
    if result.error is None:
        return OK
    if isinstance(result.error, ServiceWarning):
        return WARNING
    if isinstance(getattr(result.check, "inner", None), Draining):
        return DRAINING
    return FAILING if result.check.critical else DEGRADED


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
    A verdict made before the server announced its shutdown (portal.shutting_down) has expired:
    the load balancer must hear "draining" from the first probe after a SIGTERM.
    """

    def __init__(self, executor, database_executor):
        self.executor = executor
        self.database_executor = database_executor  # the checks that read the database, and the beat
        self.runs = 0  # how many times this process ran the checks (tests and the bench read it)
        self._lock = threading.Lock()
        self._verdict = None
        self._fresh_until = 0.0
        self._made_shutting_down = False  # whether the cached verdict saw the shutdown
        self._run = None
        self._in_flight = {}  # check key -> Future of its latest run
        self._last_summary = None

    def reset(self):
        """Forget the cached verdict (tests; settings changes)."""
        with self._lock:
            self._verdict = None
            self._fresh_until = 0.0

    def verdict(self, beat=False):
        """The current verdict; `beat`: asked by a probe, so this process beats as its instance first."""
        with self._lock:
            fresh = self._verdict is not None and time.monotonic() < self._fresh_until
            if fresh and self._made_shutting_down == shutting_down.announced():
                return self._verdict
            run = self._run
            leading = run is None
            if leading:
                run = self._run = _Run()
        if not leading:
            if run.done.wait(settings.PORTAL_READINESS_BUDGET + 0.05) and run.verdict is not None:
                return run.verdict
            return Verdict(results=[], failing=["readiness"])  # the leading request vanished: not ready
        announced = shutting_down.announced()
        try:
            if beat:
                self._beat()
            run.verdict = self._check()
            self._log_change(run.verdict)
        except Exception:
            logger.exception("Readiness checks could not run")
            run.verdict = Verdict(results=[], failing=["readiness"])
        finally:
            if run.verdict is not None:
                readiness_computed(run.verdict.status)
            with self._lock:
                if run.verdict is not None:
                    self._verdict, self._made_shutting_down = run.verdict, announced
                    self._fresh_until = time.monotonic() + settings.PORTAL_READINESS_CACHE_SECONDS
                self._run = None
            run.done.set()
        return run.verdict

    def _beat(self):
        """This process's heartbeat, from a pool thread, before the checks run.

        HeartbeatMiddleware, which beats on every other request, never sees a probe (the probe
        middleware answers first). Without this, a process that only ever gets probes (a drained
        instance after a restart: the load balancer sends it nothing else) would never learn
        which instance it is, and its drain check would answer "not draining". The heartbeat
        names the instance before it writes anything, so a short wait is enough even when the
        database hangs; the write itself never delays the answer.
        """
        wait([self.database_executor.submit(beat_from_pool)], timeout=BEAT_WAIT_SECONDS)

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
            executor = self.database_executor if check.database else self.executor
            futures[check.key] = self._in_flight[check.key] = executor.submit(run_pooled, check)
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


readiness = Readiness(READINESS_EXECUTOR, DATABASE_CHECK_EXECUTOR)


def _forget_verdict(setting, **kwargs):
    if setting.startswith(("PORTAL_HEALTH", "PORTAL_READINESS", "PORTAL_CRITICAL")):
        readiness.reset()


setting_changed.connect(_forget_verdict)
