"""The growth history as read: space per table over the last days, and a statement's mean time and calls over time
(PgHero's "space" and "queries over time"), from the samples the task worker keeps (growth.py).

A table's space is its own size plus its indexes'. Its growth is from its first sample in the window to its last.
A statement's counters are cumulative since pg_stat_statements was last reset: each point is the difference from
the sample before it (calls in that hour, and their mean time), and a counter that went down was reset, so the
point is the new count itself.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django import forms
from django.db.models import Sum
from django.utils import timezone

from opsadmin.models import QueryStatsSample, SizeSample
from opsadmin.operations.database import growth
from opsadmin.spine import humanize
from opsadmin.spine.results import OK, UNKNOWN, Section

QUERIES_LISTED = 10  # the statements one can pick on the page: the most total time in the window first


@dataclass
class TableGrowth:
    table: str
    schema: str
    first_bytes: int
    last_bytes: int
    growth_bytes: int
    growth_percent: float | None  # None when it started empty
    points: list[tuple[datetime, int]]  # (captured_at, bytes), oldest first


@dataclass
class QueryPoint:
    at: datetime
    calls: int  # calls since the sample before
    mean_ms: float | None  # their mean time; None without a call


@dataclass
class QueryHistory:
    queryid: int
    query: str
    calls: int  # in the window
    total_ms: float
    points: list[QueryPoint]


@dataclass
class GrowthHistory:
    days: int
    since: datetime
    sizes_note: str  # "" when sizes are captured here; else what is missing, plainly
    queries_note: str
    last_sizes_at: datetime | None
    tables: list[TableGrowth] = field(default_factory=list)  # the largest now first
    queries: list[QueryHistory] = field(default_factory=list)  # the most total time first (or the one asked for)


class HistoryForm(forms.Form):
    days = forms.IntegerField(required=False, min_value=1, help_text="How many days back (default: all kept).")
    table = forms.CharField(required=False, max_length=128, help_text="Only this table.")
    query = forms.IntegerField(required=False, help_text="Only this statement (its pg_stat_statements queryid).")

    def clean_days(self):
        days, kept = self.cleaned_data["days"], growth.history_days()
        if days is not None and days > kept:
            raise forms.ValidationError(f"at most {kept} days are kept (PORTAL_DATABASE_HISTORY_DAYS)")
        return days or kept

    def clean_table(self):
        table = self.cleaned_data["table"]
        if table and not SizeSample.objects.filter(table=table).exists():
            raise forms.ValidationError(f"unknown table {table!r}: no size of it was captured")
        return table

    def clean_query(self):
        queryid = self.cleaned_data["query"]
        if queryid is not None and not QueryStatsSample.objects.filter(queryid=queryid).exists():
            raise forms.ValidationError(f"unknown query {queryid}: no statistics of it were captured")
        return queryid


def growth_history(days=None, table="", query=None, now=None):
    now = now or timezone.now()
    days = days or growth.history_days()
    since = now - timedelta(days=days)
    sizes = SizeSample.objects.filter(captured_at__gte=since)
    last_sizes_at = SizeSample.objects.order_by("-captured_at").values_list("captured_at", flat=True).first()
    return GrowthHistory(
        days=days,
        since=since,
        sizes_note=growth.sizes_unavailable(),
        queries_note=growth.statements_unavailable(),
        last_sizes_at=last_sizes_at,
        tables=_tables(sizes.filter(table=table) if table else sizes),
        queries=_queries(since, query),
    )


def history(days=None, table="", query=None):
    """The read: each table's growth over the window, and the statements' calls and mean time over time."""
    found = growth_history(days, table, query)
    if not found.tables and not found.queries:
        detail = "; ".join(filter(None, [found.sizes_note, found.queries_note])) or "the task worker captures them"
        return Section(UNKNOWN, "no history yet", detail, data=found)
    grown = sum(row.growth_bytes for row in found.tables)
    headline = f"{humanize.plural(len(found.tables), 'table')}, {signed_bytes(grown)} in {found.days} days"
    lines = [
        f"{row.table}: {humanize.byte_size(row.last_bytes)}, {signed_bytes(row.growth_bytes)}"
        f" ({signed_percent(row.growth_percent)})"
        for row in found.tables
    ] + [
        f"query {row.queryid}: {humanize.count(row.calls)} calls, {mean_text(row)} mean — {row.query[:80]}"
        for row in found.queries
    ]
    notes = "; ".join(filter(None, [found.sizes_note, found.queries_note]))
    return Section(OK, headline, notes, lines=lines, data=found)


def _tables(sizes):
    totals = {}
    rows = sizes.values("captured_at", "schema", "table").annotate(total=Sum("bytes")).order_by("captured_at")
    for row in rows:
        totals.setdefault((row["schema"], row["table"]), []).append((row["captured_at"], int(row["total"])))
    found = []
    for (schema, table), points in totals.items():
        first, last = points[0][1], points[-1][1]
        percent = (last - first) * 100 / first if first else None
        found.append(TableGrowth(table, schema, first, last, last - first, percent, points))
    return sorted(found, key=lambda row: (-row.last_bytes, row.table))


def _queries(since, queryid):
    samples = QueryStatsSample.objects.filter(captured_at__gte=since - timedelta(hours=1))  # the one before, too
    if queryid is not None:
        samples = samples.filter(queryid=queryid)
    by_query = {}
    for qid, text, at, calls, total in samples.order_by("queryid", "captured_at").values_list(
        "queryid", "query", "captured_at", "calls", "total_ms"
    ):
        by_query.setdefault(qid, {"text": text, "rows": []})["rows"].append((at, calls, total))
    found = []
    for qid, seen in by_query.items():
        points, previous = [], None
        for at, calls, total in seen["rows"]:
            if previous is not None:
                then_calls, then_total = previous
                made, spent = (calls - then_calls, total - then_total) if calls >= then_calls else (calls, total)
                if at >= since:
                    points.append(QueryPoint(at, made, spent / made if made else None))
            previous = (calls, total)
        if points:
            calls = sum(point.calls for point in points)
            total = sum(point.calls * point.mean_ms for point in points if point.mean_ms is not None)
            found.append(QueryHistory(qid, seen["text"], calls, total, points))
    found.sort(key=lambda row: -row.total_ms)
    return found if queryid is not None else found[:QUERIES_LISTED]


def mean_text(row):
    return f"{row.total_ms / row.calls:,.1f} ms" if row.calls else humanize.DASH


def signed_bytes(size):
    return ("+" if size >= 0 else "\N{MINUS SIGN}") + humanize.byte_size(abs(size))


def signed_percent(value):
    if value is None:
        return "new"
    return ("+" if value >= 0 else "\N{MINUS SIGN}") + f"{abs(value):,.1f} %"
