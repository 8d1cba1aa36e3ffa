"""The growth history's charts (opsadmin.spine.charts, as the Memory page draws its hour): the largest tables' space,
and one statement's mean time and calls."""

from opsadmin.spine import charts, humanize

SMALL = {"width": 360, "height": 160}  # a chart half as wide as the page: its labels stay as large as the wide one's
TABLES_DRAWN = 8  # the largest tables; the table below the chart lists every one


def space_chart(found, now):
    """The largest tables' space over the window."""
    lines = [(row.table, row.points) for row in found.tables[:TABLES_DRAWN]]
    return charts.line_chart(lines, found.since, now, humanize.byte_size, fit=True, ago=_ago)


def query_charts(query, since, now):
    """(mean time chart, calls chart) of one statement, a point per capture."""
    means = [(point.at, point.mean_ms) for point in query.points if point.mean_ms is not None]
    calls = [(point.at, point.calls) for point in query.points]
    return (
        charts.line_chart([("mean time", means)], since, now, lambda ms: f"{ms:,.1f} ms", fit=True, ago=_ago, **SMALL),
        charts.line_chart(
            [("calls", calls)], since, now, lambda number: f"{round(number):,} calls", fit=True, ago=_ago, **SMALL
        ),
    )


def _ago(seconds):
    days = seconds / 86400
    if days >= 2:
        return f"{days:,.0f} days ago"
    return f"{days * 24:,.0f} h ago"
