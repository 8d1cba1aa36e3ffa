"""The last hour of resident memory as a chart: each worker's line and the fleet's total, drawn as inline SVG.

From MemorySample, which the beats keep for PORTAL_MEMORY_HISTORY_SECONDS (a sample per beat).
The fleet's total is drawn at the end of each minute, and at the latest sample: the sum of
each worker's latest sample, counting a worker from its first sample until two heartbeat
intervals after its last, so a worker that stopped drops out of it (a rolling recycle is
not counted twice), one that started comes in, and sparse samples (a beat missed while the
database was out) leave no gap. Each line ends in a dot: a worker with a single
sample is seen too.
"""

from bisect import bisect_right
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from opsadmin.models import MemorySample
from opsadmin.spine import charts, humanize

WINDOW = timedelta(hours=1)
TOTAL_COLOUR = "#111827"


def fleet_totals(workers):
    """[(when, bytes)] at the end of each minute with samples, and at the latest sample: each worker's latest
    sample by then, counting a worker from its first sample until two heartbeat intervals after its last."""
    fresh = timedelta(seconds=2 * float(settings.PORTAL_HEARTBEAT_SECONDS))
    workers = [(values, [at for at, _ in values]) for values in workers]
    last = max(times[-1] for _, times in workers)
    ends = {at.replace(second=0, microsecond=0) + timedelta(minutes=1) for _, times in workers for at in times}

    def rss_at(values, times, when):
        if not times[0] <= when <= times[-1] + fresh:
            return 0
        return values[bisect_right(times, when) - 1][1]

    return [
        (when, sum(rss_at(values, times, when) for values, times in workers))
        for when in [*sorted(end for end in ends if end < last), last]
    ]


def rss_chart(now=None):
    """The chart of the last hour (the fleet's total first, then each worker), or None before any sample was kept."""
    now = now or timezone.now()
    since = now - WINDOW
    samples = MemorySample.objects.filter(at__gte=since).order_by("at")
    by_worker = {}
    for instance, pid, at, rss in samples.values_list("instance_id", "pid", "at", "rss_bytes").iterator():
        by_worker.setdefault(f"{instance} pid {pid}", []).append((at, rss))
    if not by_worker:
        return None
    totals = fleet_totals(by_worker.values())
    lines = [("fleet total", totals), *sorted(by_worker.items())]
    return charts.line_chart(lines, since, now, humanize.byte_size, colours=(TOTAL_COLOUR,), ago=_minutes_ago)


def _minutes_ago(seconds):
    return "1 h ago" if seconds >= 3600 else f"{seconds / 60:,.0f} min ago"
