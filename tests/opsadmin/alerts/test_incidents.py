"""Open once, remind at most every N minutes, resolve once; acknowledged and silenced incidents stay quiet; a
failed delivery is kept and tried again. The clock is the `now` each step is given."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from opsadmin.models import AlertDelivery, AlertIncident, AlertSilence
from opsadmin.operations.alerts import delivery, incidents
from opsadmin.operations.alerts.rules import CRITICAL, Evaluation, Firing, Rule
from tests.opsadmin.alerts.receiver import Receiver

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RULE = Rule("PortalBreakerOpen", "A circuit breaker is open", CRITICAL, evaluate=None, threshold=lambda: "closed")
KEY = "PortalBreakerOpen{breaker=cache}"


def minutes(n):
    return T0 + timedelta(minutes=n)


def firing(**labels):
    labels = labels or {"breaker": "cache"}
    return Evaluation([Firing(labels, f"{labels} open", "open", "closed")])


QUIET = Evaluation([])


def step(evaluation, now, silenced=False):
    """One evaluation of RULE at `now`, as the evaluator does it: apply, remind, send what is queued."""
    changes = incidents.apply(RULE, evaluation, now, silenced=silenced)
    changes.add(incidents.remind(now, incidents.silenced_rules(now)))
    delivery.send_queued(now)
    return changes


def subjects():
    return [message.subject.split("]")[0] + "]" for message in mail.outbox]


@pytest.fixture(autouse=True)
def by_email(settings):
    settings.PORTAL_ALERTS_EMAIL_TO = ["ops@example.com"]
    settings.PORTAL_ALERTS_WEBHOOK_URL = ""
    settings.PORTAL_ALERTS_REMINDER_MINUTES = 60


def test_an_incident_opens_once_and_resolves_once():
    assert step(firing(), minutes(0)).opened == [KEY]
    for later in (1, 2, 30):
        assert step(firing(), minutes(later)).opened == []
    assert AlertIncident.objects.count() == 1
    assert subjects() == ["[FIRING]"]
    assert mail.outbox[0].to == ["ops@example.com"]
    assert "PortalBreakerOpen{breaker=cache}" in mail.outbox[0].body

    assert step(QUIET, minutes(31)).resolved == [KEY]
    assert step(QUIET, minutes(32)).resolved == []
    assert subjects() == ["[FIRING]", "[RESOLVED]"]
    incident = AlertIncident.objects.get()
    assert incident.resolved_at == minutes(31)
    assert incident.opened_at == minutes(0)

    # Firing again is a new incident, with its own opening.
    assert step(firing(), minutes(40)).opened == [KEY]
    assert AlertIncident.objects.count() == 2
    assert subjects() == ["[FIRING]", "[RESOLVED]", "[FIRING]"]


def test_reminders_come_at_most_every_reminder_period():
    step(firing(), minutes(0))
    for later in (10, 59, 60.5, 61, 100, 121, 150):
        step(firing(), minutes(later))
    # Due at 60.5 (60 min after the opening), then at 121 (60 after that reminder); none in between.
    assert subjects() == ["[FIRING]", "[STILL FIRING]", "[STILL FIRING]"]
    incident = AlertIncident.objects.get()
    assert incident.reminders == 2
    assert incident.last_notified_at == minutes(121)


def test_an_acknowledged_incident_gets_no_reminder_but_its_resolution_is_announced():
    step(firing(), minutes(0))
    incidents.acknowledge(AlertIncident.objects.get().pk, "ops-operator", minutes(5))
    for later in (61, 130, 250):
        step(firing(), minutes(later))
    assert subjects() == ["[FIRING]"]
    step(QUIET, minutes(260))
    assert subjects() == ["[FIRING]", "[RESOLVED]"]
    incident = AlertIncident.objects.get()
    assert (incident.acknowledged_by, incident.acknowledged_at, incident.reminders) == ("ops-operator", minutes(5), 0)
    with pytest.raises(incidents.NotOpen):
        incidents.acknowledge(incident.pk, "someone", minutes(261))


def test_a_silenced_rule_sends_nothing_until_its_silence_ends():
    AlertSilence.objects.create(
        rule=RULE.name, until=minutes(90), reason="maintenance", created_by="ops", created_at=minutes(0)
    )
    for later in (0, 30, 61, 89):
        step(firing(), minutes(later), silenced=True)
    assert AlertIncident.objects.filter(resolved_at__isnull=True).count() == 1  # recorded all the same
    assert mail.outbox == []
    # The silence is over and it still fires: the opening nobody heard of is announced, once, not as a reminder.
    step(firing(), minutes(91))
    step(firing(), minutes(92))
    assert subjects() == ["[FIRING]"]
    assert AlertIncident.objects.get().reminders == 0


def test_an_incident_opened_and_resolved_within_a_silence_is_never_announced():
    AlertSilence.objects.create(rule=RULE.name, until=minutes(90), reason="deploy", created_by="ops", created_at=T0)
    step(firing(), minutes(0), silenced=True)
    step(QUIET, minutes(10), silenced=True)
    step(QUIET, minutes(100))
    assert mail.outbox == []
    assert AlertIncident.objects.get().resolved_at == minutes(10)


def test_a_rule_that_could_not_be_evaluated_resolves_nothing():
    step(firing(), minutes(0))
    step(Evaluation(not_evaluated="Redis did not answer"), minutes(1))
    assert AlertIncident.objects.get().resolved_at is None


def test_an_evaluation_resolves_only_the_incidents_in_its_scope():
    here, there = {"host": "web-1"}, {"host": "web-2"}
    step(Evaluation([Firing(here, "slow", 2.0, 1.0), Firing(there, "slow", 3.0, 1.0)]), minutes(0))
    # web-1's evaluator finds its host fine: web-2's incident is not its to resolve.
    step(Evaluation([], scope=here), minutes(1))
    assert sorted(AlertIncident.objects.filter(resolved_at__isnull=True).values_list("key", flat=True)) == [
        "PortalBreakerOpen{host=web-2}"
    ]


def test_a_failed_delivery_is_kept_and_sent_at_the_next_evaluation(settings):
    settings.PORTAL_ALERTS_EMAIL_TO = []
    with Receiver() as hook:
        settings.PORTAL_ALERTS_WEBHOOK_URL = hook.url
        hook.answer = 503
        step(firing(), minutes(0))
        failed = AlertDelivery.objects.get()
        assert (failed.status, failed.attempts, failed.kind) == ("failed", 1, "opened")
        assert failed.error == "HTTP 503 Service Unavailable"
        hook.answer = 200
        step(firing(), minutes(0.5))
        step(firing(), minutes(1))
        assert hook.kinds() == ["opened"]
        sent = AlertDelivery.objects.get()
        assert (sent.status, sent.attempts, sent.error, sent.sent_at) == ("sent", 2, "", minutes(0.5))
        body = hook.bodies[0]
        assert body["status"] == "firing"
        assert body["alerts"][0]["labels"] == {
            "alertname": "PortalBreakerOpen",
            "severity": "critical",
            "breaker": "cache",
        }
        assert body["text"].startswith("[FIRING] PortalBreakerOpen{breaker=cache}")


def test_a_delivery_that_keeps_failing_is_given_up_after_its_attempts(settings):
    settings.PORTAL_ALERTS_EMAIL_TO = []
    settings.PORTAL_ALERTS_DELIVERY_ATTEMPTS = 3
    with Receiver() as hook:
        settings.PORTAL_ALERTS_WEBHOOK_URL = hook.url
        hook.answer = 500
        for later in range(5):
            step(firing(), minutes(later))
    gave_up = AlertDelivery.objects.get()
    assert (gave_up.status, gave_up.attempts) == ("gave_up", 3)


def test_an_unreachable_webhook_is_an_error_recorded_not_raised(settings):
    settings.PORTAL_ALERTS_EMAIL_TO = []
    with Receiver() as hook:
        url = hook.url
    settings.PORTAL_ALERTS_WEBHOOK_URL = url  # its server is gone: connection refused
    step(firing(), minutes(0))
    failed = AlertDelivery.objects.get()
    assert failed.status == "failed"
    assert failed.error.startswith("not reached:")


def test_without_a_channel_incidents_are_recorded_and_nothing_is_queued(settings):
    settings.PORTAL_ALERTS_EMAIL_TO = []
    step(firing(), minutes(0))
    step(firing(), minutes(200))
    incident = AlertIncident.objects.get()
    assert (incident.last_notified_at, incident.reminders) == (None, 0)
    assert AlertDelivery.objects.count() == 0
