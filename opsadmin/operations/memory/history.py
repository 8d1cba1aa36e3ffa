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
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from opsadmin.models import MemorySample
from opsadmin.spine import humanize

WINDOW = timedelta(hours=1)
WIDTH, HEIGHT, TOP = 720, 220, 10  # the SVG's coordinates; it scales to its box
PALETTE = ("#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0891b2", "#db2777", "#65a30d", "#ca8a04")
TOTAL_COLOUR = "#111827"


@dataclass
class Series:
    label: str  # "web-1:8000 pid 42", or "fleet total"
    colour: str
    points: str  # SVG polyline points
    last_bytes: int

    @property
    def end(self):
        """(x, y) of the latest point: where its dot goes."""
        return self.points.rpartition(" ")[2].split(",")


@dataclass
class Chart:
    series: list[Series]  # the fleet's total first, then each worker
    top_bytes: int  # the value at the top edge
    axis: list[tuple[int, str]]  # (y, "1.0 GiB") gridlines
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def middle(self):
        """Where "30 min ago" is."""
        return self.width // 2


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
    """The chart of the last hour, or None before any sample was kept."""
    now = now or timezone.now()
    since = now - WINDOW
    samples = MemorySample.objects.filter(at__gte=since).order_by("at")
    by_worker = {}
    for instance, pid, at, rss in samples.values_list("instance_id", "pid", "at", "rss_bytes").iterator():
        by_worker.setdefault(f"{instance} pid {pid}", []).append((at, rss))
    if not by_worker:
        return None
    totals = fleet_totals(by_worker.values())
    top = max(rss for _, rss in totals) * 1.1 or 1

    def points(values):
        return " ".join(
            f"{WIDTH * (at - since).total_seconds() / WINDOW.total_seconds():.1f},"
            f"{HEIGHT - (HEIGHT - TOP) * rss / top:.1f}"
            for at, rss in values
        )

    series = [Series("fleet total", TOTAL_COLOUR, points(totals), totals[-1][1])]
    series += [
        Series(label, PALETTE[number % len(PALETTE)], points(values), values[-1][1])
        for number, (label, values) in enumerate(sorted(by_worker.items()))
    ]
    axis = [(round(HEIGHT - (HEIGHT - TOP) * part), humanize.byte_size(top * part)) for part in (0.25, 0.5, 0.75, 1)]
    return Chart(series, int(top), axis)
