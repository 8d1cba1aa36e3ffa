"""Sending messages: by email (Django's mail settings, to PORTAL_ALERTS_EMAIL_TO) and by webhook (a JSON POST to
PORTAL_ALERTS_WEBHOOK_URL within PORTAL_ALERTS_WEBHOOK_TIMEOUT), and the outbox of AlertDelivery rows.

The standard library's urllib posts the webhook: one request with a timeout needs no dependency. Each queued
delivery is claimed before it is sent (an update that only one evaluator wins), so two task workers never send
the same message; one that fails keeps its error and is tried again at the next evaluation, until
PORTAL_ALERTS_DELIVERY_ATTEMPTS. Nothing here raises for a failed delivery: the evaluator goes on.
"""

import json
import urllib.error
import urllib.parse
import urllib.request

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import F

from opsadmin.models import AlertDelivery
from opsadmin.operations.alerts import messages
from opsadmin.spine.arguments import first_line

EMAIL, WEBHOOK = AlertDelivery.Channel.EMAIL.value, AlertDelivery.Channel.WEBHOOK.value
UNSENT = (AlertDelivery.Status.PENDING, AlertDelivery.Status.FAILED)


class DeliveryFailed(Exception):
    """A channel did not take a message; the message says why, in a line."""


def channels():
    """The channels configured now: email when there are addresses, webhook when there is a URL."""
    return [
        channel
        for channel, configured in (
            (EMAIL, settings.PORTAL_ALERTS_EMAIL_TO),
            (WEBHOOK, settings.PORTAL_ALERTS_WEBHOOK_URL),
        )
        if configured
    ]


def where(channel):
    """Where a channel sends, as the page shows it (the webhook's host only: its path may hold a secret)."""
    if channel == EMAIL:
        return ", ".join(settings.PORTAL_ALERTS_EMAIL_TO)
    return urllib.parse.urlsplit(settings.PORTAL_ALERTS_WEBHOOK_URL).netloc


def send(channel, message):
    """Send `message` on `channel`; DeliveryFailed says why it was not taken."""
    try:
        if channel == EMAIL:
            send_mail(message.subject, message.text, settings.DEFAULT_FROM_EMAIL, settings.PORTAL_ALERTS_EMAIL_TO)
        else:
            post(settings.PORTAL_ALERTS_WEBHOOK_URL, message.body)
    except DeliveryFailed:
        raise
    except Exception as error:  # SMTP errors, refused connections, timeouts: the reason, never the worker's end
        raise DeliveryFailed(f"{type(error).__name__}: {first_line(error)}"[:1000]) from error


def post(url, body):
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "stockscanner-portal-alerts"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.PORTAL_ALERTS_WEBHOOK_TIMEOUT) as response:
            response.read(65536)
    except urllib.error.HTTPError as error:
        raise DeliveryFailed(f"HTTP {error.code} {error.reason}") from error
    except urllib.error.URLError as error:
        raise DeliveryFailed(f"not reached: {error.reason}") from error


def queue(incident, kind, now):
    """Queue a message of `kind` about `incident` on every configured channel (in the caller's transaction)."""
    AlertDelivery.objects.bulk_create(
        AlertDelivery(incident=incident, kind=kind, channel=channel, queued_at=now) for channel in channels()
    )


def send_queued(now):
    """Send every queued or failed delivery, oldest first; (sent, failed) counts."""
    sent = failed = 0
    configured = channels()
    for delivery in (
        AlertDelivery.objects.filter(status__in=UNSENT).select_related("incident").order_by("queued_at", "id")
    ):
        claimed = AlertDelivery.objects.filter(pk=delivery.pk, status__in=UNSENT, attempts=delivery.attempts).update(
            attempts=F("attempts") + 1, last_attempt_at=now
        )
        if not claimed:  # another evaluator took this attempt
            continue
        attempts = delivery.attempts + 1
        if delivery.channel not in configured:
            _record(delivery, AlertDelivery.Status.GAVE_UP, f"{delivery.channel} is no longer configured")
            failed += 1
            continue
        try:
            send(delivery.channel, messages.about(delivery.incident, delivery.kind))
        except DeliveryFailed as error:
            last = attempts >= settings.PORTAL_ALERTS_DELIVERY_ATTEMPTS
            _record(delivery, AlertDelivery.Status.GAVE_UP if last else AlertDelivery.Status.FAILED, str(error))
            failed += 1
        else:
            _record(delivery, AlertDelivery.Status.SENT, "", sent_at=now)
            sent += 1
    return sent, failed


def _record(delivery, status, error, sent_at=None):
    AlertDelivery.objects.filter(pk=delivery.pk).update(status=status, error=error, sent_at=sent_at)
