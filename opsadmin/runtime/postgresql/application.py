"""The names the portal's own PostgreSQL sessions give the server (pg_stat_activity.application_name).

Every connection of the portal's engine sets one (base.py): "stockscanner-portal <instance> <purpose>",
the instance this process serves as (its host for a command) and what its thread does
(thread_connections: web, check, heartbeat, task, scheduled, command). A person reading
pg_stat_activity sees which sessions are the portal's, which instance holds them and why; the Live
queries page counts them by instance and purpose, and refuses to cancel or terminate any of them:
ending them would cut the portal off mid-request (or mid-run). OPTIONS' application_name (a
`?application_name=` in DATABASE_URL) wins over "stockscanner-portal" as the common prefix when set.
"""

from django.db import DEFAULT_DB_ALIAS, connections

from opsadmin.runtime import identity, thread_connections
from opsadmin.runtime.postgresql import budgets

APPLICATION_NAME = "stockscanner-portal"
NAME_BYTES = 63  # PostgreSQL keeps this much of an application_name (NAMEDATALEN - 1), in printable ASCII


def portal_application_name(alias=DEFAULT_DB_ALIAS):
    """The prefix the application_name of every portal session on `alias` starts with."""
    return connections[alias].settings_dict.get("OPTIONS", {}).get("application_name") or APPLICATION_NAME


def session_name(prefix):
    """This thread's sessions' name: `prefix`, the instance (cut to fit), the purpose."""
    instance = identity.this_instance_id() or _unnamed_instance()
    instance = instance.encode("ascii", "replace").decode().replace(" ", "_")  # as the server would keep it
    purpose = thread_connections.purpose()
    return f"{prefix} {instance}"[: NAME_BYTES - len(purpose) - 1] + f" {purpose}"


def _unnamed_instance():
    """The instance of a process not yet named by its heartbeat: a web process's from its configuration (the
    gunicorn master warming up, a worker before its first beat), else its host (a command)."""
    if budgets.kind() == budgets.WEB:
        return ":".join(identity.configured_instance())
    return identity.instance_host()


def is_portal_session(name, prefix):
    """Whether a session's application_name is one of the portal's (`prefix`, alone or followed by a space)."""
    return name == prefix or name.startswith(prefix + " ")


def parse_session_name(name, prefix):
    """(instance, purpose) of a portal session's application_name; ("", "") for a bare `prefix`."""
    instance, _, purpose = name.removeprefix(prefix).strip().rpartition(" ")
    return instance, purpose


# The same test in SQL, for statements that select or spare the portal's sessions: takes (prefix, prefix).
PORTAL_SESSION_SQL = "coalesce(application_name = %s OR starts_with(application_name, %s || ' '), false)"
