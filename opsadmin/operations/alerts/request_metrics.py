"""This host's request figures, for the alerts on error rate, latency and rate-limit refusals.

Read from the files gunicorn's workers write their metrics to (PORTAL_METRICS_DIR, prometheus_client's
multiprocess mode) with the client's own MultiProcessCollector, as a scrape of /metrics adds them up. They are
counters: a rate is the difference between two evaluations' totals over the time between them, which is why
each rule keeps the totals it last saw (AlertRuleState.kept). A total that went down means the files started
afresh (a server restart empties them): that evaluation only takes a new first sample.

Only this host's web processes are seen, and only when its gunicorn writes to a directory named in the
environment the task worker shares: without PORTAL_METRICS_DIR each gunicorn keeps a temporary directory of its
own, and these rules say they are not evaluated rather than that all is well.
"""

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from django.conf import settings

from opsadmin.runtime.metrics.scrape import workers_values

REQUESTS = "portal_http_requests"
REQUEST_SECONDS = "portal_http_request_duration_seconds"
REJECTIONS = "portal_rate_limit_rejections"


class Unreadable(Exception):
    """The figures cannot be read on this host; the message says why, for the page."""


@dataclass
class Totals:
    """Every counter these rules need, summed over routes, methods, workers (and tiers): since the files began."""

    at: str  # ISO time of the reading
    requests: float = 0.0
    errors: float = 0.0  # answered 5xx
    buckets: dict[str, float] = field(default_factory=dict)  # upper bound ("0.5", "+Inf") -> requests that fast
    rejections: float = 0.0

    @classmethod
    def from_kept(cls, kept):
        try:
            return cls(**kept) if kept else None
        except TypeError:  # kept by another release: start afresh
            return None

    def kept(self):
        return asdict(self)


@dataclass
class Window:
    """What happened between two readings."""

    seconds: float
    requests: float
    errors: float
    buckets: dict[str, float]
    rejections: float

    @property
    def error_ratio(self):
        return self.errors / self.requests if self.requests else 0.0

    @property
    def rejections_per_minute(self):
        return self.rejections * 60 / self.seconds if self.seconds > 0 else 0.0

    def quantile(self, q):
        """The q-quantile of request time, as Prometheus's histogram_quantile interpolates it; None without requests.

        In the last, unbounded bucket it answers the highest finite bound, as Prometheus does."""
        bounds = sorted(((float(le), count) for le, count in self.buckets.items()), key=lambda pair: pair[0])
        total = bounds[-1][1] if bounds else 0
        if total <= 0:
            return None
        rank = q * total
        lower, below = 0.0, 0.0
        for upper, count in bounds:
            if count >= rank:
                if math.isinf(upper):
                    return lower
                return lower + (upper - lower) * ((rank - below) / (count - below) if count > below else 1.0)
            lower, below = upper, count
        return lower


def directory():
    return settings.PORTAL_METRICS_DIR


def read(at):
    """This host's totals now, from PORTAL_METRICS_DIR; Unreadable says why they cannot be read."""
    path = directory()
    if not path:
        raise Unreadable(
            "PORTAL_METRICS_DIR is not set: gunicorn keeps its metrics in a directory of its own the task worker "
            "cannot read (Prometheus's rule covers it)"
        )
    if not Path(path).is_dir():
        raise Unreadable(f"PORTAL_METRICS_DIR {path} does not exist on this host")
    totals = Totals(at=at.isoformat())
    for family in workers_values(path):  # as a scrape reads them: never while a dead worker's files are folded
        for sample in family.samples:
            if sample.name == f"{REQUESTS}_total":
                totals.requests += sample.value
                if sample.labels.get("status", "").startswith("5"):
                    totals.errors += sample.value
            elif sample.name == f"{REQUEST_SECONDS}_bucket":
                le = sample.labels["le"]
                totals.buckets[le] = totals.buckets.get(le, 0.0) + sample.value
            elif sample.name == f"{REJECTIONS}_total":
                totals.rejections += sample.value
    return totals


def window(previous, current):
    """What happened from `previous` to `current` (Totals); None when there is no earlier reading or the files
    started afresh since (a total went down)."""
    if previous is None:
        return None
    went_down = (
        current.requests < previous.requests
        or current.rejections < previous.rejections
        or any(current.buckets.get(le, 0.0) < count for le, count in previous.buckets.items())
    )
    seconds = (datetime.fromisoformat(current.at) - datetime.fromisoformat(previous.at)).total_seconds()
    if went_down or seconds <= 0:
        return None
    return Window(
        seconds=seconds,
        requests=current.requests - previous.requests,
        errors=current.errors - previous.errors,
        buckets={le: count - previous.buckets.get(le, 0.0) for le, count in current.buckets.items()},
        rejections=current.rejections - previous.rejections,
    )
