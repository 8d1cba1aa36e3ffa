"""Incidents, de-duplicated: opened once, resolved once, reminded of at most every PORTAL_ALERTS_REMINDER_MINUTES.

Every change that sends a message is a conditional update (or an insert the partial unique constraint guards),
and its messages are queued in the same transaction: whichever of two evaluators running at once wins the
change queues them, the other changes nothing. A silenced rule's incidents are opened and resolved all the
same, but nothing is queued: an incident whose opening nobody was told of is announced once the silence ends
(if it is still open), and its resolution is announced only if its opening was.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q

from opsadmin.models import AlertDelivery, AlertIncident, AlertSilence
from opsadmin.operations.alerts import delivery
from opsadmin.operations.alerts.rules import key

OPENED, REMINDER, RESOLVED = AlertDelivery.Kind.OPENED, AlertDelivery.Kind.REMINDER, AlertDelivery.Kind.RESOLVED


@dataclass
class Changes:
    """What one evaluation changed: incident keys opened and resolved, and the messages it queued."""

    opened: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    reminded: list[str] = field(default_factory=list)
    announced: list[str] = field(default_factory=list)  # opened earlier, announced now (a silence ended)

    def add(self, other):
        for name in ("opened", "resolved", "reminded", "announced"):
            getattr(self, name).extend(getattr(other, name))


def silenced_rules(now):
    """{rule: its active silence ending last}: rules nothing is sent for now."""
    active = AlertSilence.objects.filter(until__gt=now, ended_at__isnull=True).order_by("until")
    return {silence.rule: silence for silence in active}


def apply(rule, evaluation, now, *, silenced):
    """Open an incident for each firing key without one, refresh the open ones, resolve those in the evaluation's
    scope that no longer fire; nothing is resolved when the rule could not be evaluated."""
    changes = Changes()
    if evaluation.not_evaluated:
        return changes
    firing = {key(rule.name, each.labels): each for each in evaluation.firing}
    for incident_key, each in firing.items():
        if _open_or_refresh(rule, incident_key, each, now, silenced=silenced):
            changes.opened.append(incident_key)
    still_open = AlertIncident.objects.filter(rule=rule.name, resolved_at__isnull=True)
    for incident in still_open:
        in_scope = all(incident.labels.get(name) == value for name, value in evaluation.scope.items())
        if in_scope and incident.key not in firing and _resolve(incident, now, silenced=silenced):
            changes.resolved.append(incident.key)
    return changes


def _open_or_refresh(rule, incident_key, firing, now, *, silenced):
    """True when this evaluation opened the incident (and queued its "opened" message unless silenced)."""
    detail = {"value": firing.value, "threshold": firing.threshold}
    refreshed = AlertIncident.objects.filter(key=incident_key, resolved_at__isnull=True).update(
        summary=firing.summary[:500], detail=detail, severity=rule.severity, last_firing_at=now
    )
    if refreshed:
        return False
    try:
        with transaction.atomic():
            incident = AlertIncident.objects.create(
                rule=rule.name,
                key=incident_key,
                labels=firing.labels,
                severity=rule.severity,
                summary=firing.summary[:500],
                detail=detail,
                opened_at=now,
                last_firing_at=now,
            )
            if not silenced and delivery.channels():
                incident.last_notified_at = now
                incident.save(update_fields=["last_notified_at"])
                delivery.queue(incident, OPENED, now)
    except IntegrityError:  # another evaluator opened it a moment ago: its message is on its way
        return False
    return True


def _resolve(incident, now, *, silenced):
    with transaction.atomic():
        won = AlertIncident.objects.filter(pk=incident.pk, resolved_at__isnull=True).update(resolved_at=now)
        if won and incident.last_notified_at is not None and not silenced:
            incident.resolved_at = now
            delivery.queue(incident, RESOLVED, now)
    return bool(won)


def remind(now, silenced):
    """Announce open incidents nobody was told of yet (their rule's silence ended), and remind of those told of
    more than PORTAL_ALERTS_REMINDER_MINUTES ago, unless acknowledged or silenced."""
    changes = Changes()
    if not delivery.channels():
        return changes
    due = now - timedelta(minutes=settings.PORTAL_ALERTS_REMINDER_MINUTES)
    candidates = AlertIncident.objects.filter(resolved_at__isnull=True, acknowledged_at__isnull=True).filter(
        Q(last_notified_at__isnull=True) | Q(last_notified_at__lte=due)
    )
    for incident in candidates.exclude(rule__in=list(silenced)).order_by("opened_at"):
        announce = incident.last_notified_at is None
        with transaction.atomic():
            claim = AlertIncident.objects.filter(
                pk=incident.pk,
                resolved_at__isnull=True,
                acknowledged_at__isnull=True,
                last_notified_at=incident.last_notified_at,
            )
            if not claim.update(
                last_notified_at=now, reminders=F("reminders") + (0 if announce else 1)
            ):  # another evaluator took it, or it was acknowledged or resolved meanwhile
                continue
            incident.refresh_from_db()
            delivery.queue(incident, OPENED if announce else REMINDER, now)
        (changes.announced if announce else changes.reminded).append(incident.key)
    return changes


class NotOpen(Exception):
    """The incident cannot be acknowledged: it does not exist, is resolved, or was acknowledged already."""


def acknowledge(incident_id, actor, now):
    """Someone is on it: no more reminders; who and when are kept. NotOpen when it cannot be acknowledged."""
    done = AlertIncident.objects.filter(pk=incident_id, resolved_at__isnull=True, acknowledged_at__isnull=True).update(
        acknowledged_by=actor[:150], acknowledged_at=now
    )
    if not done:
        raise NotOpen(incident_id)
    return AlertIncident.objects.get(pk=incident_id)


def state_of(incident, silenced):
    """The incident's state word: resolved, acknowledged, silenced, or open."""
    if incident.resolved_at is not None:
        return "resolved"
    if incident.acknowledged_at is not None:
        return "acknowledged"
    if incident.rule in silenced:
        return "silenced"
    return "open"
