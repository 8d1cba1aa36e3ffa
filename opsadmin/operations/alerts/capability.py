"""The alerts capability: incidents of the alert rules, open first; acknowledge, silence, evaluate, test delivery.

The task worker evaluates the rules on its own every PORTAL_ALERTS_EVALUATE_SECONDS (`scheduled`).
"""

from django.conf import settings

from opsadmin.operations.alerts import evaluator, sections, writes
from opsadmin.operations.alerts.rules import CRITICAL, WARNING
from opsadmin.spine.capability import Capability, DeclaredPermission, Page, Read, Scheduled

CAPABILITY = Capability(
    name="alerts",
    title="Alerts",
    icon="notifications_active",
    group="Alerts",
    nav_title="Incidents",
    reads=(
        Read("incidents", "Incidents, open ones first", sections.incidents_section),
        Read("rules", "Every alert rule, as last evaluated", sections.rules_section),
    ),
    writes=(writes.ACKNOWLEDGE, writes.SILENCE, writes.UNSILENCE, writes.EVALUATE, writes.TEST_DELIVERY),
    status="incidents",
    page=Page("opsadmin/alerts.html", sections.page_context),
    card="opsadmin/cards/alerts.html",
    permissions=(DeclaredPermission(writes.PERMISSION, "Can acknowledge and silence alerts"),),
    colours={
        "open": "danger",
        "silenced": "default",
        "acknowledged": "info",
        "resolved": "success",
        "firing": "danger",
        "not evaluated": "warning",
        "sent": "success",
        "gave_up": "danger",
        CRITICAL: "danger",
        WARNING: "warning",
    },
    scheduled=(Scheduled("evaluate_alerts", lambda: settings.PORTAL_ALERTS_EVALUATE_SECONDS, evaluator.evaluate),),
)
