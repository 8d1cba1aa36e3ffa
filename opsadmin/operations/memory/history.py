"""The last hour of resident memory as a chart: each worker's line and the fleet's total, drawn as inline SVG.

From MemorySample, which the beats keep for PORTAL_MEMORY_HISTORY_SECONDS. The total at each
minute is the sum of each worker's last sample in that minute, so a worker that stopped
drops out of it, and one that started comes in.
"""

from dataclasses import dataclass
from datetime import timedelta

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


def rss_chart(now=None):
    """The chart of the last hour, or None before any sample was kept."""
    now = now or timezone.now()
    since = now - WINDOW
    samples = MemorySample.objects.filter(at__gte=since).order_by("at")
    by_worker, by_minute = {}, {}
    for instance, pid, at, rss in samples.values_list("instance_id", "pid", "at", "rss_bytes").iterator():
        label = f"{instance} pid {pid}"
        by_worker.setdefault(label, []).append((at, rss))
        minute = at.replace(second=0, microsecond=0)
        by_minute.setdefault(minute, {})[label] = rss
    if not by_worker:
        return None
    totals = [(minute + timedelta(seconds=30), sum(values.values())) for minute, values in sorted(by_minute.items())]
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
