"""Line charts drawn as inline SVG by the pages' templates: polylines over a time window, gridlines labelled in the
series' unit, each line ending in a dot (so a single sample is seen too). No JavaScript and no chart library: the
pages stay readable with scripts off, and a chart is its numbers."""

from dataclasses import dataclass

WIDTH, HEIGHT, TOP = 720, 220, 10  # the SVG's coordinates; it scales to its box
PALETTE = ("#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0891b2", "#db2777", "#65a30d", "#ca8a04")


@dataclass
class Series:
    label: str
    colour: str
    points: str  # SVG polyline points
    last_value: float  # its latest value
    last: str  # the same, as people read it

    @property
    def end(self):
        """(x, y) of the latest point: where its dot goes."""
        return self.points.rpartition(" ")[2].split(",")


@dataclass
class Chart:
    series: list[Series]
    axis: list[tuple[int, str]]  # (y, "1.0 GiB") gridlines
    start_label: str  # "30 days ago"
    middle_label: str
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def middle(self):
        return self.width // 2


def line_chart(lines, since, now, unit, *, width=WIDTH, height=HEIGHT, colours=(), fit=False, ago=None):
    """`lines`: [(label, [(when, value)])] → a Chart over since..now, values shown by `unit(value)`; None if empty.

    `colours`: the first lines' own colours (the palette's after them). `fit`: a history shorter than the window
    is drawn from its first sample, so six days of samples fill the width rather than a fifth of a 30-day one.
    `ago(seconds)` labels the start and the middle ("30 min ago")."""
    lines = [(label, values) for label, values in lines if values]
    if not lines:
        return None
    if fit:
        since = max(since, min(values[0][0] for _, values in lines))
    span = max((now - since).total_seconds(), 1.0)
    top = max(value for _, values in lines for _, value in values) * 1.1 or 1

    def points(values):
        return " ".join(
            f"{width * min(max((at - since).total_seconds() / span, 0.0), 1.0):.1f},"
            f"{height - (height - TOP) * value / top:.1f}"
            for at, value in values
        )

    def colour(number):
        return colours[number] if number < len(colours) else PALETTE[(number - len(colours)) % len(PALETTE)]

    series = [
        Series(label, colour(number), points(values), values[-1][1], unit(values[-1][1]))
        for number, (label, values) in enumerate(lines)
    ]
    axis = [(round(height - (height - TOP) * part), unit(top * part)) for part in (0.25, 0.5, 0.75, 1)]
    ago = ago or (lambda seconds: "")
    return Chart(series, axis, ago(span), ago(span / 2), width, height)
