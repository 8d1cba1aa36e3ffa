"""The alerts' writes: acknowledge an incident, silence a rule for a while (and end a silence), evaluate now,
send a test message. Operators only (manage_alerts); every one is audited as any ops run.

The forms check everything that needs checking before anything changes, so every door gives the same error: an
incident that does not exist or is no longer open, a rule that is not one, a duration outside a week, a reason
left empty.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from opsadmin.models import AlertIncident, AlertSilence
from opsadmin.operations.alerts import delivery, evaluator, incidents, messages
from opsadmin.operations.alerts.rules import BY_NAME, RULES
from opsadmin.spine import humanize
from opsadmin.spine.capability import Write
from opsadmin.spine.results import Report
from opsadmin.spine.runs import OperationFailed
from portal.text import storable_text

PERMISSION = "manage_alerts"
MAX_SILENCE_MINUTES = 7 * 24 * 60


def _rule_choices():
    return [(rule.name, rule.name) for rule in RULES]


class RuleField(forms.ChoiceField):
    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "An alert rule, as Prometheus names it: " + ", ".join(BY_NAME) + ".")
        super().__init__(
            choices=_rule_choices, error_messages={"invalid_choice": "Not an alert rule: %(value)s."}, **kwargs
        )


class AcknowledgeForm(forms.Form):
    incident = forms.IntegerField(min_value=1, help_text="The number of an open incident (#12 on the Alerts page).")

    def clean_incident(self):
        number = self.cleaned_data["incident"]
        incident = AlertIncident.objects.filter(pk=number).first()
        if incident is None:
            raise ValidationError(f"No incident #{number}.", code="unknown")
        if incident.resolved_at is not None:
            raise ValidationError(f"Incident #{number} is resolved already.", code="resolved")
        if incident.acknowledged_at is not None:
            raise ValidationError(
                f"Incident #{number} was acknowledged by {incident.acknowledged_by} already.", code="acknowledged"
            )
        return number


class SilenceForm(forms.Form):
    rule = RuleField()
    minutes = forms.IntegerField(
        min_value=1, max_value=MAX_SILENCE_MINUTES, help_text="How long, in minutes (at most a week: 10080)."
    )
    reason = forms.CharField(max_length=500, help_text="Why, for whoever wonders where the messages went.")

    def clean_reason(self):
        reason = self.cleaned_data["reason"]
        if not storable_text(reason):
            raise ValidationError("Null characters and unpaired surrogates are not allowed.", code="unstorable")
        return reason


class UnsilenceForm(forms.Form):
    rule = RuleField()

    def clean_rule(self):
        rule = self.cleaned_data["rule"]
        if rule not in incidents.silenced_rules(timezone.now()):
            raise ValidationError(f"{rule} is not silenced.", code="not_silenced")
        return rule


class EvaluateForm(forms.Form):
    rule = RuleField(
        required=False, label="Show rule", help_text="Every rule is evaluated; this one's outcome is shown first."
    )


class TestDeliveryForm(forms.Form):
    channel = forms.ChoiceField(
        choices=[("", "every configured channel"), *delivery.AlertDelivery.Channel.choices],
        required=False,
        help_text="email or webhook; empty: every configured channel.",
    )

    def clean_channel(self):
        channel = self.cleaned_data["channel"]
        configured = delivery.channels()
        if channel and channel not in configured:
            raise ValidationError(f"{channel} is not configured (PORTAL_ALERTS_EMAIL_TO, PORTAL_ALERTS_WEBHOOK_URL).")
        if not configured:
            raise ValidationError(
                "No channel is configured: set PORTAL_ALERTS_EMAIL_TO and/or PORTAL_ALERTS_WEBHOOK_URL.",
                code="none",
            )
        return channel


@dataclass(kw_only=True)
class AcknowledgeReport(Report):
    incident: int
    key: str
    acknowledged_by: str


def acknowledge_alert(*, incident, actor):
    """Someone is on it: its reminders stop; who and when are kept. Its resolution is still announced."""
    try:
        done = incidents.acknowledge(incident, actor, timezone.now())
    except incidents.NotOpen:  # resolved or acknowledged between the form's check and now
        raise OperationFailed(f"Incident #{incident} is no longer open and unacknowledged: nothing changed.") from None
    return AcknowledgeReport(
        summary=f"Acknowledged incident #{done.pk} {done.key}: no more reminders.",
        incident=done.pk,
        key=done.key,
        acknowledged_by=done.acknowledged_by,
    )


@dataclass(kw_only=True)
class SilenceReport(Report):
    rule: str
    until: object
    reason: str


def silence_alert(*, rule, minutes, reason, actor):
    """No message about the rule's incidents until then; they are still opened, listed and resolved."""
    now = timezone.now()
    silence = AlertSilence.objects.create(
        rule=rule, until=now + timedelta(minutes=minutes), reason=reason, created_by=actor[:150], created_at=now
    )
    return SilenceReport(
        summary=f"Silenced {rule} for {humanize.duration(minutes * 60)}, until {silence.until:%Y-%m-%d %H:%M} UTC.",
        rule=rule,
        until=silence.until,
        reason=reason,
    )


def unsilence_alert(*, rule, actor):
    """End the rule's silences now: an incident still open that nobody was told of is announced next evaluation."""
    now = timezone.now()
    ended = AlertSilence.objects.filter(rule=rule, until__gt=now, ended_at__isnull=True).update(
        ended_at=now, ended_by=actor[:150]
    )
    return Report(summary=f"Ended {humanize.plural(ended, 'silence')} of {rule}.")


@dataclass(kw_only=True)
class EvaluateReport(Report):
    firing: dict
    not_evaluated: dict
    opened: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    reminded: list[str] = field(default_factory=list)
    sent: int = 0
    failed: int = 0


def evaluate_alerts(*, rule):
    """Evaluate every rule now, as the task worker does on its schedule (cron may run this where none runs)."""
    outcome = evaluator.evaluate()
    changes = outcome.changes
    firing = sum(outcome.firing.values())
    summary = (
        f"{humanize.plural(firing, 'incident')} firing; opened {len(changes.opened):,}, resolved "
        f"{len(changes.resolved):,}; {humanize.plural(outcome.sent, 'message')} sent"
    )
    if rule:
        found = outcome.not_evaluated.get(rule)
        summary += f"; {rule}: " + (f"not evaluated ({found})" if found else f"{outcome.firing.get(rule, 0):,} firing")
    problems = (
        [f"{humanize.plural(outcome.failed, 'message')} not delivered: see the Alerts page"] if outcome.failed else []
    )
    return EvaluateReport(
        summary=summary + ".",
        ok=not outcome.failed,
        problems=problems,
        firing=outcome.firing,
        not_evaluated=outcome.not_evaluated,
        opened=changes.opened + changes.announced,
        resolved=changes.resolved,
        reminded=changes.reminded,
        sent=outcome.sent,
        failed=outcome.failed,
    )


@dataclass(kw_only=True)
class TestReport(Report):
    delivered: list[str]


def test_alert_delivery(*, channel, actor):
    """Send a test message now on one channel or every configured one; each failure is a problem."""
    message = messages.test_message(actor)
    delivered, problems = [], []
    for each in [channel] if channel else delivery.channels():
        try:
            delivery.send(each, message)
        except delivery.DeliveryFailed as error:
            problems.append(f"{each} to {delivery.where(each)}: {error}")
        else:
            delivered.append(f"{each} to {delivery.where(each)}")
    summary = f"Test message delivered by {', '.join(delivered)}." if delivered else "Test message not delivered."
    return TestReport(summary=summary, ok=not problems, problems=problems, delivered=delivered)


ACKNOWLEDGE = Write("acknowledge_alert", "Acknowledge an alert", PERMISSION, AcknowledgeForm, acknowledge_alert)
SILENCE = Write("silence_alert", "Silence an alert rule", PERMISSION, SilenceForm, silence_alert)
UNSILENCE = Write("unsilence_alert", "End an alert rule's silence", PERMISSION, UnsilenceForm, unsilence_alert)
EVALUATE = Write("evaluate_alerts", "Evaluate the alert rules now", PERMISSION, EvaluateForm, evaluate_alerts)
TEST_DELIVERY = Write(
    "test_alert_delivery", "Send a test alert message", PERMISSION, TestDeliveryForm, test_alert_delivery
)
