"""The growth history drawn as inline SVG, as the Memory page draws its hour: polylines over the window, gridlines
labelled in the series' unit, each line ending in a dot (a single sample is seen too)."""

from dataclasses import dataclass

from opsadmin.spine import humanize

WIDTH, HEIGHT, TOP = 720, 220, 10  # the SVG's coordinates; it scales to its box
PALETTE = ("#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0891b2", "#db2777", "#65a30d", "#ca8a04")
SMALL = (360, 160)  # a chart drawn half as wide as the page: its labels stay as large as the wide one's
TABLES_DRAWN = 8  # the largest tables; the table below the chart lists every one


@dataclass
class Series:
    label: str
    colour: str
    points: str  # SVG polyline points
    last: str  # its latest value as people read it

    @property
    def end(self):
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


def line_chart(lines, since, now, unit, width=WIDTH, height=HEIGHT):
    """`lines`: [(label, [(when, value)])] → a Chart over since..now, values shown by `unit(value)`; None if empty.

    A history shorter than the window is drawn from its first sample: six days of samples fill the width, rather
    than a fifth of a 30-day one."""
    lines = [(label, values) for label, values in lines if values]
    if not lines:
        return None
    since = max(since, min(values[0][0] for _, values in lines))
    span = max((now - since).total_seconds(), 1.0)
    top = max(value for _, values in lines for _, value in values) * 1.1 or 1

    def points(values):
        return " ".join(
            f"{width * min(max((at - since).total_seconds() / span, 0.0), 1.0):.1f},"
            f"{height - (height - TOP) * value / top:.1f}"
            for at, value in values
        )

    series = [
        Series(label, PALETTE[number % len(PALETTE)], points(values), unit(values[-1][1]))
        for number, (label, values) in enumerate(lines)
    ]
    axis = [(round(height - (height - TOP) * part), unit(top * part)) for part in (0.25, 0.5, 0.75, 1)]
    days = span / 86400
    return Chart(series, axis, _ago(days), _ago(days / 2), width, height)


def space_chart(found, now):
    """The largest tables' space over the window."""
    lines = [(row.table, row.points) for row in found.tables[:TABLES_DRAWN]]
    return line_chart(lines, found.since, now, humanize.byte_size)


def query_charts(query, since, now):
    """(mean time chart, calls chart) of one statement, a point per capture."""
    means = [(point.at, point.mean_ms) for point in query.points if point.mean_ms is not None]
    calls = [(point.at, point.calls) for point in query.points]
    return (
        line_chart([("mean time", means)], since, now, lambda ms: f"{ms:,.1f} ms", *SMALL),
        line_chart([("calls", calls)], since, now, lambda number: f"{round(number):,} calls", *SMALL),
    )


def _ago(days):
    if days >= 2:
        return f"{days:,.0f} days ago"
    return f"{days * 24:,.0f} h ago"
