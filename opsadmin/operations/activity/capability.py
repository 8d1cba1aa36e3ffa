"""The activity capability: the database during an incident. Every session and its query, who blocks whom,
connections against max_connections; cancel a query or terminate a session (PostgreSQL)."""

from opsadmin.operations.activity import sections, signals
from opsadmin.spine.capability import Capability, DeclaredPermission, Page, Read

CAPABILITY = Capability(
    name="activity",
    title="Live queries",
    icon="monitor_heart",
    group="Database",
    reads=(
        Read("connections", "Connections against max_connections", sections.connections),
        Read("queries", "Sessions and their queries", sections.live_queries, form_class=sections.QueriesForm),
        Read("blocking", "Lock waits: who blocks whom", sections.blocking),
    ),
    writes=(signals.CANCEL_QUERY, signals.TERMINATE_BACKEND),
    status="connections",
    page=Page("opsadmin/activity.html", sections.page_context),
    permissions=(DeclaredPermission(signals.PERMISSION, "Can cancel queries and terminate database sessions"),),
    colours={
        "active": "primary",
        "idle": "default",
        "idle in transaction": "warning",
        "idle in transaction (aborted)": "danger",
        "long-running": "danger",
        "blocked": "warning",
    },
)
