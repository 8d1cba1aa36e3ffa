"""`system_status` (read): everything at a glance, one section per capability.

A capability adds its section with `@status_section("name")`: a function returning a
JSON-ready dict with at least `ok` (bool). Sections are gathered in declaration order.
"""

from datetime import timedelta

from django.utils import timezone

from opsadmin.models import OpsRun
from opsadmin.operations.caches.inventory import hit_ratio_summary
from opsadmin.operations.database.analysis import index_health
from opsadmin.operations.health import health_status
from opsadmin.operations.instances import instances_status

SECTIONS = {}
RECENT_RUNS = 10


def status_section(name):
    def register(function):
        SECTIONS[name] = function
        return function

    return register


def system_status():
    """{"ok": all sections ok, "sections": {name: section}}."""
    sections = {name: section() for name, section in SECTIONS.items()}
    return {"ok": all(section["ok"] for section in sections.values()), "sections": sections}


@status_section("health")
def _health():
    health = health_status()
    return {"ok": health["status"] == "ok", **health}


@status_section("instances")
def _instances():
    instances = instances_status()
    states = [instance["state"] for instance in instances if instance["serves_traffic"]]
    return {
        "ok": "serving" in states or not states,
        "serving": states.count("serving"),
        "draining": states.count("draining"),
        "gone": states.count("gone"),
        "instances": instances,
    }


@status_section("database")
def _database():
    health = index_health()
    return {"ok": health.ok, "missing_indexes": health.missing, "invalid_indexes": health.invalid}


@status_section("caches")
def _caches():
    summary = hit_ratio_summary()
    if summary is None:
        return {"ok": True, "hit_ratio": None, "errors": []}
    return {
        "ok": not summary.errors,
        "hit_ratio": summary.ratio,
        "hits": summary.hits,
        "misses": summary.misses,
        "errors": summary.errors,
    }


@status_section("runs")
def _runs():
    since = timezone.now() - timedelta(days=1)
    recent = OpsRun.objects.order_by("-started_at", "-id")[:RECENT_RUNS]
    failed = OpsRun.objects.filter(status=OpsRun.Status.FAILED, started_at__gte=since).count()
    return {
        "ok": failed == 0,
        "failed_last_24h": failed,
        "running": OpsRun.objects.filter(status=OpsRun.Status.RUNNING).count(),
        "recent": [
            {"id": run.pk, "operation": run.operation, "status": run.status, "actor": run.actor, "summary": run.summary}
            for run in recent
        ],
    }
