"""The alerts capability on its doors: bad input refused with the same clear error on each and nothing changed;
operators acknowledge, silence and test delivery; viewers see the incidents without the controls."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from opsadmin.models import AlertIncident, AlertSilence, OpsRun
from opsadmin.operations.alerts import sections
from tests.helpers import OPERATORS, VIEWERS, logged_in, post_json
from tests.opsadmin.alerts.receiver import Receiver

pytestmark = pytest.mark.django_db

API = "/api/ops/alerts/"
PAGE = "/admin/ops/alerts/"


def incident(key="PortalBreakerOpen{breaker=cache}", severity="critical", **fields):
    now = timezone.now()
    return AlertIncident.objects.create(
        rule=key.partition("{")[0],
        key=key,
        labels={"breaker": "cache"},
        severity=severity,
        summary="cache breaker open since 09:00:00 UTC: 3 of 3 failures",
        detail={"value": "open", "threshold": "closed"},
        opened_at=now,
        last_firing_at=now,
        **fields,
    )


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"incident": 999_999}, "incident", "No incident #999999."),
        ({"incident": 0}, "incident", "Ensure this value is greater than or equal to 1."),
        ({"incident": "first"}, "incident", "Enter a whole number."),
        ({}, "incident", "This field is required."),
    ],
)
def test_acknowledging_what_is_not_an_incident_is_refused_on_the_api_and_the_command_line(data, field, message):
    response = post_json(logged_in(OPERATORS), API + "acknowledge_alert/", data)
    assert response.status_code == 400
    assert message in str(response.json()), response.json()
    arguments = ["--set", f"{field}={data[field]}"] if field in data else []
    with pytest.raises(CommandError) as refused:
        call_command("ops", "run", "acknowledge_alert", *arguments, stdout=StringIO())
    assert refused.value.returncode == 2
    assert message in str(refused.value)
    assert OpsRun.objects.filter(operation="acknowledge_alert", status="succeeded").count() == 0


def test_a_resolved_or_acknowledged_incident_cannot_be_acknowledged():
    resolved = incident(resolved_at=timezone.now())
    acknowledged = incident("PortalOpsRunFailed{operation=x}", acknowledged_by="alice", acknowledged_at=timezone.now())
    client = logged_in(OPERATORS)
    answer = post_json(client, API + "acknowledge_alert/", {"incident": resolved.pk})
    assert answer.status_code == 400
    assert f"Incident #{resolved.pk} is resolved already." in str(answer.json())
    answer = post_json(client, API + "acknowledge_alert/", {"incident": acknowledged.pk})
    assert answer.status_code == 400
    assert f"Incident #{acknowledged.pk} was acknowledged by alice already." in str(answer.json())
    assert AlertIncident.objects.get(pk=acknowledged.pk).acknowledged_by == "alice"


def test_an_operator_acknowledges_an_incident_and_who_and_when_are_kept():
    open_one = incident()
    response = post_json(logged_in(OPERATORS, username="olga"), API + "acknowledge_alert/", {"incident": open_one.pk})
    assert response.status_code == 200, response.content
    open_one.refresh_from_db()
    assert open_one.acknowledged_by == "olga"
    assert open_one.acknowledged_at is not None
    assert sections.incidents_section().data.open[0].state == "acknowledged"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"rule": "PortalNothing", "minutes": 30, "reason": "x"}, "Not an alert rule: PortalNothing."),
        ({"rule": "PortalBreakerOpen", "minutes": 0, "reason": "x"}, "greater than or equal to 1"),
        ({"rule": "PortalBreakerOpen", "minutes": 20_000, "reason": "x"}, "less than or equal to 10080"),
        ({"rule": "PortalBreakerOpen", "minutes": 30, "reason": ""}, "This field is required."),
    ],
)
def test_a_silence_needs_a_rule_a_duration_within_a_week_and_a_reason(data, message):
    response = post_json(logged_in(OPERATORS), API + "silence_alert/", data)
    assert response.status_code == 400
    assert message in str(response.json())
    assert AlertSilence.objects.count() == 0


def test_a_silence_records_who_why_and_until_and_ending_it_is_recorded_too():
    client = logged_in(OPERATORS, username="sam")
    data = {"rule": "PortalBreakerOpen", "minutes": 60, "reason": "Redis upgrade"}
    assert post_json(client, API + "silence_alert/", data).status_code == 200
    silence = AlertSilence.objects.get()
    assert (silence.rule, silence.created_by, silence.reason) == ("PortalBreakerOpen", "sam", "Redis upgrade")
    assert 59 * 60 < (silence.until - silence.created_at).total_seconds() <= 3600
    rules = {row.name: row for row in sections.rules_section().data}
    assert rules["PortalBreakerOpen"].silence.by == "sam"

    assert post_json(client, API + "unsilence_alert/", {"rule": "PortalBreakerOpen"}).status_code == 200
    silence.refresh_from_db()
    assert silence.ended_by == "sam"
    again = post_json(client, API + "unsilence_alert/", {"rule": "PortalBreakerOpen"})
    assert again.status_code == 400
    assert "PortalBreakerOpen is not silenced." in str(again.json())


def test_a_test_message_reaches_the_webhook_and_without_a_channel_the_write_says_what_to_set(settings):
    client = logged_in(OPERATORS, username="tess")
    settings.PORTAL_ALERTS_EMAIL_TO, settings.PORTAL_ALERTS_WEBHOOK_URL = [], ""
    refused = post_json(client, API + "test_alert_delivery/", {})
    assert refused.status_code == 400
    assert "PORTAL_ALERTS_EMAIL_TO" in str(refused.json())
    with Receiver() as hook:
        settings.PORTAL_ALERTS_WEBHOOK_URL = hook.url
        response = post_json(client, API + "test_alert_delivery/", {})
        assert response.status_code == 200, response.content
        assert hook.kinds() == ["test"]
        assert "asked for by tess" in hook.bodies[0]["text"]
        hook.answer = 500
        failed = post_json(client, API + "test_alert_delivery/", {"channel": "webhook"})
    assert failed.json()["problems"] == [f"webhook to {hook.url.split('/')[2]}: HTTP 500 Internal Server Error"]


def test_viewers_see_the_incidents_without_the_controls_and_operators_with_them():
    open_one = incident()
    viewer_page = logged_in(VIEWERS).get(PAGE).content.decode()
    assert open_one.summary in viewer_page
    assert 'data-write="acknowledge_alert"' not in viewer_page
    assert 'data-write="silence_alert"' not in viewer_page
    operator_page = logged_in(OPERATORS).get(PAGE).content.decode()
    assert 'data-write="acknowledge_alert"' in operator_page
    assert 'data-write="silence_alert"' in operator_page
    assert (
        post_json(logged_in(VIEWERS, username="vic"), API + "acknowledge_alert/", {"incident": open_one.pk}).status_code
        == 403
    )


def test_the_status_is_failing_while_a_critical_incident_is_open_and_unacknowledged(settings):
    call_command("ops", "run", "evaluate_alerts", stdout=StringIO())  # an evaluation just now: not stale
    assert sections.incidents_section().status == "ok"
    open_one = incident()
    assert sections.incidents_section().status == "failing"
    AlertIncident.objects.filter(pk=open_one.pk).update(acknowledged_by="a", acknowledged_at=timezone.now())
    assert sections.incidents_section().status == "warning"
    AlertIncident.objects.filter(pk=open_one.pk).update(resolved_at=timezone.now())
    assert sections.incidents_section().status == "ok"


def test_without_a_recent_evaluation_the_status_is_unknown_and_says_why():
    section = sections.incidents_section()
    assert section.status == "unknown"
    assert "is a task worker running (manage.py ops_worker)?" in section.detail
    assert reverse("admin:ops_alerts") == PAGE
