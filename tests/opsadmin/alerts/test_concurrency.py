"""Two evaluators finding the same alert at the same moment open one incident and queue one message, on
PostgreSQL: the partial unique index (one open incident per key) makes the second insert wait for the first
transaction, then fail, and that evaluator leaves it to the first."""

import threading
import time
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction

from opsadmin.models import AlertDelivery, AlertIncident
from opsadmin.operations.alerts import incidents
from opsadmin.operations.alerts.rules import CRITICAL, Evaluation, Firing, Rule

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RULE = Rule("PortalBreakerOpen", "A circuit breaker is open", CRITICAL, evaluate=None, threshold=lambda: "closed")
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FIRING = Evaluation([Firing({"breaker": "cache"}, "cache breaker open", "open", "closed")])


def test_two_evaluators_at_once_open_one_incident_and_queue_one_message(settings):
    settings.PORTAL_ALERTS_EMAIL_TO = ["ops@example.com"]
    inserted, second_started = threading.Event(), threading.Event()
    opened = {}

    def first():
        try:
            with transaction.atomic():  # holds its new row uncommitted while the second evaluator tries
                opened["first"] = incidents.apply(RULE, FIRING, NOW, silenced=False).opened
                inserted.set()
                second_started.wait(10)
                time.sleep(0.5)  # the second is now waiting on the unique index
        finally:
            connection.close()

    def second():
        try:
            inserted.wait(10)
            second_started.set()
            opened["second"] = incidents.apply(RULE, FIRING, NOW, silenced=False).opened
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert opened == {"first": ["PortalBreakerOpen{breaker=cache}"], "second": []}
    assert AlertIncident.objects.filter(resolved_at__isnull=True).count() == 1
    assert list(AlertDelivery.objects.values_list("kind", flat=True)) == ["opened"]
