"""The dashboard (admin index): health, instances, recent runs, and a tile per capability.

A capability adds its tile with `@dashboard_tile`: a function of the system status
(opsadmin.operations.status) returning a `Tile`. Data gathering stays in
opsadmin.operations; this module only arranges it.
"""

from dataclasses import dataclass

from django.urls import reverse

from opsadmin.operations.status import system_status

TILES = []
STATUS_VARIANTS = {
    "ok": "success",
    "serving": "success",
    "succeeded": "success",
    "warning": "warning",
    "degraded": "warning",
    "draining": "warning",
    "queued": "info",
    "running": "info",
    "failing": "danger",
    "unavailable": "danger",
    "failed": "danger",
    "gone": "default",
}


@dataclass
class Tile:
    title: str
    value: str
    detail: str = ""
    href: str = ""
    status: str = "ok"

    @property
    def variant(self):
        return STATUS_VARIANTS.get(self.status, "default")


def dashboard_tile(function):
    TILES.append(function)
    return function


def dashboard_callback(request, context):
    """UNFOLD["DASHBOARD_CALLBACK"]: adds the ops overview for users who may see it."""
    if not request.user.has_perm("opsadmin.view_ops"):
        return context
    status = system_status()
    context.update(
        ops_status=status,
        health=status["sections"]["health"],
        instances=status["sections"]["instances"]["instances"],
        recent_runs=status["sections"]["runs"]["recent"],
        tiles=[tile(status) for tile in TILES],
    )
    return context


@dashboard_tile
def health_tile(status):
    health = status["sections"]["health"]
    problems = [
        f"{kind}: {', '.join(names)}"
        for kind, names in (
            ("failing", health["failing"]),
            ("degraded", health["degraded"]),
            ("warning", health["warnings"]),
        )
        if names
    ]
    return Tile(
        "Health",
        health["status"],
        "; ".join(problems) or f"{len(health['checks'])} checks pass",
        reverse("admin:ops_health"),
        "warning" if health["status"] == "ok" and health["warnings"] else health["status"],
    )


@dashboard_tile
def instances_tile(status):
    section = status["sections"]["instances"]
    serving, draining = section["serving"], section["draining"]
    return Tile(
        "Instances",
        f"{serving} serving",
        f"{draining} draining" if draining else "none draining",
        reverse("admin:opsadmin_instance_changelist"),
        "draining" if draining else "ok",
    )


@dashboard_tile
def database_tile(status):
    section = status["sections"]["database"]
    broken = section["missing_indexes"] + section["invalid_indexes"]
    return Tile(
        "Database",
        "indexes ok" if section["ok"] else f"{len(broken)} index problem{'s' if len(broken) != 1 else ''}",
        ", ".join(broken) or "every declared index is present and valid",
        reverse("admin:ops_database"),
        "ok" if section["ok"] else "warning",
    )


@dashboard_tile
def caches_tile(status):
    section = status["sections"]["caches"]
    ratio = section["hit_ratio"]
    if section["errors"]:
        value, detail, state = "unreachable", "; ".join(section["errors"]), "failing"
    elif "hits" not in section:
        value, detail, state = "local memory", "no Redis cache configured", "ok"
    elif ratio is None:
        value, detail, state = "no lookups yet", "Redis has answered no cache lookup since it started", "ok"
    else:
        value, detail, state = f"{ratio:.1%} hits", f"{section['hits']:,} hits, {section['misses']:,} misses", "ok"
    return Tile("Caches", value, detail, reverse("admin:ops_caches"), state)
