"""The alerts capability's reads, and what its page shows: incidents open first, problems first, then each rule.

The status is a problem while one exists: an open critical incident nobody acknowledged is failing; any other
open incident, or a message that could not be delivered, a warning; no evaluation for a while (no task worker
evaluating) unknown, since then nothing is watched. Past incidents are listed, not alarmed on.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from opsadmin.models import AlertDelivery, AlertIncident, AlertRuleState
from opsadmin.operations.alerts import delivery, incidents
from opsadmin.operations.alerts.rules import CRITICAL, RULES
from opsadmin.spine import humanize
from opsadmin.spine.results import FAILING, OK, UNKNOWN, WARNING, Section, to_json

RECENT_RESOLVED = 20
UNDELIVERED_HOURS = 24  # a delivery that gave up stays a warning this long
SEVERITY_FIRST = {CRITICAL: 0}
STATE_FIRST = {"open": 0, "silenced": 1, "acknowledged": 2, "resolved": 3}
SILENCE_CHOICES = ((30, "30 min"), (60, "1 h"), (240, "4 h"), (1440, "1 day"), (10080, "1 week"))


@dataclass
class DeliveryRow:
    kind: str
    channel: str
    status: str
    attempts: int
    error: str
    queued_at: datetime
    sent_at: datetime | None


@dataclass
class IncidentRow:
    id: int
    rule: str
    key: str
    labels: dict
    severity: str
    state: str  # open, silenced, acknowledged, resolved
    summary: str
    value: object
    threshold: object
    opened_at: datetime
    resolved_at: datetime | None
    last_firing_at: datetime
    lasted_seconds: float
    reminders: int
    last_notified_at: datetime | None
    acknowledged_by: str
    acknowledged_at: datetime | None
    deliveries: list[DeliveryRow]
    undelivered: int  # its messages that failed (retried) or were given up on


@dataclass
class Alerts:
    open: list[IncidentRow]  # unacknowledged first, critical first, oldest first
    resolved: list[IncidentRow]  # the latest RECENT_RESOLVED
    channels: list[str]  # "email to ops@example.com", "webhook to hooks.example.com"
    evaluated_at: datetime | None  # the latest evaluation, by any task worker
    evaluate_seconds: float
    reminder_minutes: float
    undelivered: int


@dataclass
class Silence:
    until: datetime
    reason: str
    by: str
    since: datetime


@dataclass
class RuleState:
    evaluator: str
    state: str  # firing, ok, not evaluated
    reason: str
    firing: int
    evaluated_at: datetime


@dataclass
class RuleRow:
    name: str
    title: str
    severity: str
    threshold: str
    note: str
    states: list[RuleState] = field(default_factory=list)
    silence: Silence | None = None
    open_incidents: int = 0


def stale_after():
    """An evaluation older than this means no task worker is evaluating."""
    return timedelta(seconds=max(3 * settings.PORTAL_ALERTS_EVALUATE_SECONDS, 120))


def incidents_section(now=None):
    """Open incidents first: failing while a critical one is open and unacknowledged, a warning for any other."""
    now = now or timezone.now()
    silenced = incidents.silenced_rules(now)
    open_rows = sorted(
        (
            _row(incident, silenced, now)
            for incident in _with_deliveries(AlertIncident.objects.filter(resolved_at__isnull=True))
        ),
        key=lambda row: (STATE_FIRST[row.state], SEVERITY_FIRST.get(row.severity, 1), row.opened_at, row.id),
    )
    resolved = _with_deliveries(
        AlertIncident.objects.filter(resolved_at__isnull=False).order_by("-resolved_at")[:RECENT_RESOLVED]
    )
    evaluated_at = AlertRuleState.objects.order_by("-evaluated_at").values_list("evaluated_at", flat=True).first()
    undelivered = (
        AlertDelivery.objects.filter(status=AlertDelivery.Status.FAILED).count()
        + AlertDelivery.objects.filter(
            status=AlertDelivery.Status.GAVE_UP, last_attempt_at__gte=now - timedelta(hours=UNDELIVERED_HOURS)
        ).count()
    )
    data = Alerts(
        open=open_rows,
        resolved=[_row(incident, silenced, now) for incident in resolved],
        channels=[f"{channel} to {delivery.where(channel)}" for channel in delivery.channels()],
        evaluated_at=evaluated_at,
        evaluate_seconds=settings.PORTAL_ALERTS_EVALUATE_SECONDS,
        reminder_minutes=settings.PORTAL_ALERTS_REMINDER_MINUTES,
        undelivered=undelivered,
    )
    lines = [_line(row) for row in open_rows]
    sending = f"messages by {', '.join(data.channels)}" if data.channels else "no channel configured: listed here only"
    if undelivered:
        lines.append(f"{humanize.plural(undelivered, 'message')} not delivered (see the Alerts page)")
    lines.append(sending)
    if evaluated_at is None or now - evaluated_at > stale_after():
        when = f"since {humanize.ago(evaluated_at, now)}" if evaluated_at else "ever"
        detail = f"not evaluated {when}: is a task worker running (manage.py ops_worker)?"
        status = FAILING if _pressing(open_rows) else UNKNOWN
        return Section(status, _headline(open_rows), detail, lines=[detail, *lines], data=data)
    if _pressing(open_rows):
        return Section(
            FAILING,
            _headline(open_rows),
            "; ".join(row.summary for row in _pressing(open_rows)),
            lines=lines,
            data=data,
        )
    if open_rows or undelivered:
        detail = (
            "; ".join(row.summary for row in open_rows) or f"{humanize.plural(undelivered, 'message')} not delivered"
        )
        return Section(WARNING, _headline(open_rows), detail, lines=lines, data=data)
    return Section(OK, "none open", f"evaluated {humanize.ago(evaluated_at, now)}; {sending}", lines=lines, data=data)


def rules_section(now=None):
    """Every rule: what it watches, its threshold, what each evaluator last found (or why it could not), silences."""
    now = now or timezone.now()
    silenced = incidents.silenced_rules(now)
    states = {}
    for state in AlertRuleState.objects.order_by("rule", "evaluator"):
        states.setdefault(state.rule, []).append(
            RuleState(state.evaluator, state.state, state.reason, state.firing, state.evaluated_at)
        )
    open_counts = {}
    for rule_name in AlertIncident.objects.filter(resolved_at__isnull=True).values_list("rule", flat=True):
        open_counts[rule_name] = open_counts.get(rule_name, 0) + 1
    rows = []
    for rule in RULES:
        silence = silenced.get(rule.name)
        rows.append(
            RuleRow(
                name=rule.name,
                title=rule.title,
                severity=rule.severity,
                threshold=rule.threshold(),
                note=rule.note,
                states=states.get(rule.name, []),
                silence=Silence(silence.until, silence.reason, silence.created_by, silence.created_at)
                if silence
                else None,
                open_incidents=open_counts.get(rule.name, 0),
            )
        )
    not_evaluated = [row for row in rows if any(state.state == "not evaluated" for state in row.states)]
    lines = [_rule_line(row) for row in rows]
    if not any(row.states for row in rows):
        return Section(UNKNOWN, "never evaluated", "no task worker has evaluated the rules yet", lines=lines, data=rows)
    evaluated = len(rows) - len(not_evaluated)
    detail = f"not evaluated in-app: {', '.join(row.name for row in not_evaluated)}" if not_evaluated else ""
    return Section(OK, f"{evaluated} of {len(rows)} evaluated in-app", detail, lines=lines, data=rows)


def page_context():
    section = incidents_section()
    rules = rules_section()
    return {
        "section": section,
        "rules": rules,
        "panels": [(row, to_json(row, indent=2)) for row in section.data.open],
        "resolved": section.data.resolved,
        "silence_choices": SILENCE_CHOICES,
    }


def _with_deliveries(queryset):
    return list(queryset.prefetch_related("deliveries"))


def _row(incident, silenced, now):
    deliveries = [
        DeliveryRow(each.kind, each.channel, each.status, each.attempts, each.error, each.queued_at, each.sent_at)
        for each in incident.deliveries.all()
    ]
    return IncidentRow(
        id=incident.pk,
        rule=incident.rule,
        key=incident.key,
        labels=incident.labels,
        severity=incident.severity,
        state=incidents.state_of(incident, silenced),
        summary=incident.summary,
        value=(incident.detail or {}).get("value"),
        threshold=(incident.detail or {}).get("threshold"),
        opened_at=incident.opened_at,
        resolved_at=incident.resolved_at,
        last_firing_at=incident.last_firing_at,
        lasted_seconds=((incident.resolved_at or now) - incident.opened_at).total_seconds(),
        reminders=incident.reminders,
        last_notified_at=incident.last_notified_at,
        acknowledged_by=incident.acknowledged_by,
        acknowledged_at=incident.acknowledged_at,
        deliveries=deliveries,
        undelivered=sum(1 for each in deliveries if each.status in ("failed", "gave_up")),
    )


def _pressing(rows):
    return [row for row in rows if row.state == "open" and row.severity == CRITICAL]


def _headline(rows):
    return f"{len(rows):,} open" if rows else "none open"


def _line(row):
    """ "open PortalBreakerOpen{breaker=cache} (critical) for 4 min 05 s: cache breaker open ... — 2 reminders" """
    who = f", acknowledged by {row.acknowledged_by}" if row.acknowledged_by else ""
    return (
        f"{row.state} #{row.id} {row.key} ({row.severity}) for {humanize.duration(row.lasted_seconds)}: {row.summary}"
        f" — {humanize.plural(row.reminders, 'reminder')}{who}"
    )


def _rule_line(row):
    found = ", ".join(
        f"{state.evaluator}: {state.state}{f' ({state.reason})' if state.reason else ''}" for state in row.states
    )
    silence = f"; silenced until {row.silence.until:%Y-%m-%d %H:%M} UTC by {row.silence.by}" if row.silence else ""
    return f"{row.name} ({row.severity}, threshold {row.threshold}): {found or 'not evaluated yet'}{silence}"
