"""What a message about an incident says: a subject and a text for email, a JSON body for a webhook.

The webhook body serves two kinds of receiver at once: `text`, one line, is what Slack's and Mattermost's
incoming webhooks show; the rest follows Alertmanager's webhook body (version 4: `status`, `alerts` with
`labels`, `annotations`, `startsAt`, `endsAt`), so a receiver written for Alertmanager reads it unchanged.
"""

from dataclasses import dataclass

from opsadmin.models import AlertDelivery
from opsadmin.spine import humanize

TAGS = {
    AlertDelivery.Kind.OPENED: "FIRING",
    AlertDelivery.Kind.REMINDER: "STILL FIRING",
    AlertDelivery.Kind.RESOLVED: "RESOLVED",
}
PAGE = "/admin/ops/alerts/"


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    body: dict  # the webhook's JSON


def about(incident, kind):
    """The message of `kind` (opened, reminder, resolved) about `incident` (an AlertIncident)."""
    tag = TAGS[kind]
    subject = f"[{tag}] {incident.rule}: {incident.summary}"[:250]
    detail = incident.detail or {}
    lines = [
        f"{tag}: {incident.summary}",
        "",
        f"Alert:     {incident.key}",
        f"Severity:  {incident.severity}",
        f"Opened:    {incident.opened_at:%Y-%m-%d %H:%M:%S} UTC",
    ]
    if incident.resolved_at:
        lines.append(
            f"Resolved:  {incident.resolved_at:%Y-%m-%d %H:%M:%S} UTC, after "
            f"{humanize.duration((incident.resolved_at - incident.opened_at).total_seconds())}"
        )
    if detail.get("value") is not None:
        lines.append(f"Value:     {detail['value']} (threshold {detail.get('threshold')})")
    if kind == AlertDelivery.Kind.REMINDER:
        lines.append(f"Reminder:  {incident.reminders:,} (acknowledge it on the Alerts page to stop them)")
    lines += ["", f"Incident #{incident.pk} on the Alerts page: {PAGE}"]
    status = "resolved" if kind == AlertDelivery.Kind.RESOLVED else "firing"
    alert = {
        "status": status,
        "labels": {"alertname": incident.rule, "severity": incident.severity, **incident.labels},
        "annotations": {"summary": incident.summary, **{name: str(value) for name, value in detail.items()}},
        "startsAt": incident.opened_at.isoformat(),
        "endsAt": incident.resolved_at.isoformat() if incident.resolved_at else "0001-01-01T00:00:00Z",
        "fingerprint": incident.key,
    }
    body = {
        "text": f"[{tag}] {incident.key}: {incident.summary}",
        "version": "4",
        "status": status,
        "kind": kind,
        "incident": incident.pk,
        "reminders": incident.reminders,
        "receiver": "stockscanner-portal",
        "groupKey": incident.key,
        "alerts": [alert],
    }
    return Message(subject, "\n".join(lines) + "\n", body)


def test_message(actor):
    """A message that says it is a test, sent by `manage.py ops run test_alert_delivery` and its page."""
    text = f"A test of the portal's alert delivery, asked for by {actor}. Nothing is wrong."
    return Message(
        "[TEST] Portal alert delivery",
        text + "\n",
        {"text": f"[TEST] {text}", "version": "4", "status": "resolved", "kind": "test", "alerts": []},
    )
