"""The alert rules: the same events, and names, as the Prometheus rules (docs/monitoring/), evaluated in-app.

One small function per rule, each answering with an `Evaluation`: what fires now (one `Firing` per incident,
told apart by its labels), which incidents it speaks for (`scope`: the fleet's, or this host's for figures only
this host sees), and, when it cannot tell, why not (then nothing it watches is resolved: unknown is not fine).
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Max
from django.tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from opsadmin.health.readiness import readiness
from opsadmin.models import InstanceWorker, OpsRun
from opsadmin.operations.alerts import request_metrics
from opsadmin.runtime import breakers, fleet, identity
from opsadmin.runtime.breakers import CLOSED
from opsadmin.spine import humanize

CRITICAL, WARNING = "critical", "warning"
# Fewer requests than this between two evaluations say nothing about an error rate or a percentile: one 500 out
# of three requests is not an outage. Prometheus's rules see the same quiet as no data, and do not fire either.
MIN_REQUESTS = 20
FAILED_RUN_STATUSES = (OpsRun.Status.FAILED, OpsRun.Status.PARTLY_FAILED)


@dataclass(frozen=True)
class Firing:
    """One incident a rule finds now: its labels tell it from the rule's others ({"breaker": "cache"})."""

    labels: dict
    summary: str  # what is wrong, in a sentence a person reads first
    value: object = None
    threshold: object = None


@dataclass(frozen=True)
class Evaluation:
    firing: list[Firing] = field(default_factory=list)
    scope: dict = field(default_factory=dict)  # labels of the incidents it speaks for; {} for the fleet's
    not_evaluated: str = ""  # why it could not tell ("" when it could)
    keep: dict | None = None  # what to keep until its next evaluation on this host (None: keep what was kept)


@dataclass(frozen=True)
class Rule:
    name: str  # as the Prometheus rule's alert is called
    title: str
    severity: str
    evaluate: Callable  # (Context) -> Evaluation
    threshold: Callable  # () -> the threshold as people read it
    note: str = ""  # what a reader of the page should know about evaluating it in-app


class Context:
    """One evaluation's moment and this host, what each rule kept from its last evaluation here, and the request
    figures, read once for the rules that share them."""

    def __init__(self, now, kept=None, host=identity.HOST):
        self.now, self.host, self._kept = now, host, kept or {}

    def kept(self, rule):
        return self._kept.get(rule, {})

    @functools.cached_property
    def totals(self):
        """This host's request totals now, or the Unreadable saying why not (raised by `request_totals`)."""
        try:
            return request_metrics.read(self.now)
        except request_metrics.Unreadable as error:
            return error

    def request_window(self, rule):
        """(window since this rule's last evaluation here or None, Evaluation to answer instead or None)."""
        if isinstance(self.totals, request_metrics.Unreadable):
            return None, Evaluation(scope={"host": self.host}, not_evaluated=str(self.totals))
        previous = request_metrics.Totals.from_kept(self.kept(rule))
        window = request_metrics.window(previous, self.totals)
        if window is None:
            why = "first reading of the request counters taken" if previous is None else "request counters restarted"
            return None, Evaluation(
                scope={"host": self.host},
                not_evaluated=f"{why}: rates from the next evaluation",
                keep=self.totals.kept(),
            )
        return window, None


def breaker_open(context):
    """A breaker is open or half-open (not closed yet): calls to its dependency fail at once, or are on trial."""
    firing = [
        Firing(
            {"breaker": status.name},
            f"{status.name} breaker {status.state}"
            + (f" since {status.opened_at:%H:%M:%S} UTC" if status.opened_at else "")
            + (f": {status.fail_counter:,} of {status.fail_max:,} failures" if status.fail_counter else "")
            + (f"; last error: {status.last_error}" if status.last_error else ""),
            value=status.state,
            threshold=CLOSED,
        )
        for status in (breaker.status() for breaker in breakers.every())
        if status.state != CLOSED
    ]
    return Evaluation(firing)


def readiness_failing(context):
    """Readiness as this host's task worker computes it (the same checks, settings and budget as the probes'):
    unavailable unless only on purpose (draining)."""
    verdict = readiness.verdict()
    firing = []
    if verdict.failing and not verdict.drained_only:
        problems = "; ".join(
            f"{check.name}: {check.message}" for check in verdict.checks() if check.name in verdict.failing
        )
        firing.append(
            Firing(
                {"host": context.host},
                f"readiness unavailable on {context.host}: {problems or 'checks failing'}",
                verdict.failing,
                "none failing",
            )
        )
    return Evaluation(firing, scope={"host": context.host})


def high_error_rate(context):
    """Answers of 5xx among this host's requests since the last evaluation, above PORTAL_ALERTS_ERROR_RATE_PERCENT."""
    return _on_requests(context, HIGH_ERROR_RATE.name, _error_rate)


def high_latency_p95(context):
    """The 95th percentile of this host's request time since the last evaluation, above the threshold."""
    return _on_requests(context, SLOW_REQUESTS.name, _latency_p95)


def rejections_surging(context):
    """Scanner requests refused by the rate limits on this host, a minute, above the threshold."""
    return _on_requests(context, REJECTIONS_SURGING.name, _rejections)


def _on_requests(context, rule, measure):
    """A rule on this host's requests since its last evaluation: `measure(window, host)` gives (value, threshold,
    summary) when it fires, else None; the totals are kept for the next window."""
    window, instead = context.request_window(rule)
    if instead:
        return instead
    found = measure(window, context.host)
    firing = [Firing({"host": context.host}, found[2], found[0], found[1])] if found else []
    return Evaluation(firing, scope={"host": context.host}, keep=context.totals.kept())


def _error_rate(window, host):
    threshold = settings.PORTAL_ALERTS_ERROR_RATE_PERCENT / 100
    if window.requests < MIN_REQUESTS or window.error_ratio <= threshold:
        return None
    return (
        round(window.error_ratio, 4),
        threshold,
        f"{humanize.percent(window.error_ratio)} of requests on {host} answered 5xx "
        f"({window.errors:,.0f} of {window.requests:,.0f} in {humanize.duration(window.seconds)})",
    )


def _latency_p95(window, host):
    threshold = settings.PORTAL_ALERTS_LATENCY_P95_SECONDS
    p95 = window.quantile(0.95) if window.requests >= MIN_REQUESTS else None
    if p95 is None or p95 <= threshold:
        return None
    return (
        round(p95, 4),
        threshold,
        f"95 % of requests on {host} took up to {humanize.duration(p95)} "
        f"({window.requests:,.0f} requests in {humanize.duration(window.seconds)})",
    )


def _rejections(window, host):
    threshold = settings.PORTAL_ALERTS_REJECTIONS_PER_MINUTE
    rate = window.rejections_per_minute
    if rate <= threshold:
        return None
    return (
        round(rate, 2),
        threshold,
        f"{rate:,.0f} scanner requests a minute refused by the rate limits on {host} "
        f"({window.rejections:,.0f} in {humanize.duration(window.seconds)})",
    )


def worker_memory_high(context):
    """A live process's resident memory above its soft limit, as its latest heartbeat published them."""
    alive = InstanceWorker.objects.filter(last_seen_at__gte=context.now - timedelta(seconds=fleet.gone_seconds()))
    firing, limited = [], 0
    for worker in alive.order_by("instance_id", "pid"):
        soft = ((worker.figures or {}).get("limits") or {}).get("soft_bytes") or settings.PORTAL_MEMORY_SOFT_LIMIT
        if not soft or worker.rss_bytes is None:
            continue
        limited += 1
        if worker.rss_bytes > soft:
            firing.append(
                Firing(
                    {"process": str(worker)},
                    f"{worker} uses {humanize.byte_size(worker.rss_bytes)}, "
                    f"over its soft limit of {humanize.byte_size(soft)}",
                    worker.rss_bytes,
                    soft,
                )
            )
    if not limited:
        return Evaluation(not_evaluated="no soft memory limit is set (PORTAL_MEMORY_SOFT_LIMIT) on any live process")
    return Evaluation(firing)


def ops_run_failed(context):
    """An ops run failed (or partly) within the last PORTAL_ALERTS_FAILED_RUN_MINUTES, one incident per operation:
    it resolves that long after the operation's last failure, as Prometheus's increase() over the window does."""
    since = context.now - timedelta(minutes=settings.PORTAL_ALERTS_FAILED_RUN_MINUTES)
    rows = (
        OpsRun.objects.filter(status__in=FAILED_RUN_STATUSES, finished_at__gte=since)
        .order_by()
        .values("operation")
        .annotate(count=Count("id"), last=Max("finished_at"), last_id=Max("id"))
    )
    firing = [
        Firing(
            {"operation": row["operation"]},
            f"{humanize.plural(row['count'], 'run')} of {row['operation']} failed in the last "
            f"{settings.PORTAL_ALERTS_FAILED_RUN_MINUTES:g} min, the last #{row['last_id']} "
            f"at {row['last']:%H:%M:%S} UTC",
            row["count"],
            0,
        )
        for row in rows.order_by("operation")
    ]
    return Evaluation(firing)


def task_worker_gone(context):
    """Tasks wait and no task worker has beaten for PORTAL_INSTANCE_GONE_SECONDS."""
    waiting = DBTaskResult.objects.filter(status=TaskResultStatus.READY).count()
    gone = fleet.no_task_worker(context.now)
    firing = []
    if waiting and gone:
        firing.append(Firing({}, f"{humanize.plural(waiting, 'task')} waiting and {gone}", waiting, 0))
    return Evaluation(firing)


def _seconds(value):
    return humanize.duration(value)


# Severities as the Prometheus rules' (tests/opsadmin/alerts/test_rules.py keeps names and severities in step):
# a breaker open is a warning there too, since readiness failing (critical) covers the database's.
BREAKER_OPEN = Rule("PortalBreakerOpen", "A circuit breaker is open", WARNING, breaker_open, lambda: "closed")
NOT_READY = Rule(
    "PortalNotReady",
    "Readiness is failing",
    CRITICAL,
    readiness_failing,
    lambda: "no critical check failing",
    note="the task worker's host runs the readiness checks itself; each web instance's own answer is Prometheus's",
)
HIGH_ERROR_RATE = Rule(
    "PortalHighErrorRate",
    "Many requests answer 5xx",
    CRITICAL,
    high_error_rate,
    lambda: f"{settings.PORTAL_ALERTS_ERROR_RATE_PERCENT:g} % of at least {MIN_REQUESTS} requests",
    note="this host's web processes, from PORTAL_METRICS_DIR",
)
SLOW_REQUESTS = Rule(
    "PortalSlowRequests",
    "Requests are slow (95th percentile)",
    WARNING,
    high_latency_p95,
    lambda: f"{_seconds(settings.PORTAL_ALERTS_LATENCY_P95_SECONDS)} over at least {MIN_REQUESTS} requests",
    note="this host's web processes, from PORTAL_METRICS_DIR",
)
WORKER_MEMORY_OVER_SOFT_LIMIT = Rule(
    "PortalWorkerMemoryOverSoftLimit",
    "A worker's memory is over its soft limit",
    WARNING,
    worker_memory_high,
    lambda: "each process's soft limit"
    + (f" ({humanize.byte_size(settings.PORTAL_MEMORY_SOFT_LIMIT)})" if settings.PORTAL_MEMORY_SOFT_LIMIT else ""),
)
REJECTIONS_SURGING = Rule(
    "PortalRateLimitRejectionsSurging",
    "Rate-limit refusals are surging",
    WARNING,
    rejections_surging,
    lambda: f"{settings.PORTAL_ALERTS_REJECTIONS_PER_MINUTE:,g} a minute",
    note="this host's web processes, from PORTAL_METRICS_DIR",
)
OPS_RUN_FAILED = Rule(
    "PortalOpsRunFailed",
    "An ops run failed",
    WARNING,
    ops_run_failed,
    lambda: f"none failed in {settings.PORTAL_ALERTS_FAILED_RUN_MINUTES:g} min",
)
TASK_WORKER_GONE = Rule(
    "PortalTaskWorkerGone",
    "The task worker is gone while tasks wait",
    WARNING,
    task_worker_gone,
    lambda: f"a task worker seen within {_seconds(fleet.gone_seconds())}",
    note="a task worker evaluating finds itself alive: this fires when something else evaluates "
    "(cron: manage.py ops run evaluate_alerts) or in Prometheus",
)

RULES = (
    NOT_READY,
    BREAKER_OPEN,
    HIGH_ERROR_RATE,
    SLOW_REQUESTS,
    WORKER_MEMORY_OVER_SOFT_LIMIT,
    REJECTIONS_SURGING,
    OPS_RUN_FAILED,
    TASK_WORKER_GONE,
)
BY_NAME = {rule.name: rule for rule in RULES}


def key(rule, labels):
    """ "PortalBreakerOpen{breaker=cache}": the rule and its labels, sorted; what one open incident is kept per."""
    inside = ",".join(f"{name}={value}" for name, value in sorted(labels.items()))
    return f"{rule}{{{inside}}}" if inside else rule
