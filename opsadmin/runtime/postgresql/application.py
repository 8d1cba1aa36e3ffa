"""The name the portal's own PostgreSQL sessions give the server (pg_stat_activity.application_name).

Every connection of the portal's engine sets it (base.py), so a person reading pg_stat_activity
sees which sessions are the portal's, and the Live queries page refuses to cancel or terminate
them: ending them would cut the portal off mid-request (or mid-run). OPTIONS' application_name
(a `?application_name=` in DATABASE_URL) wins when set; the portal then goes by that one.
"""

from django.db import DEFAULT_DB_ALIAS, connections

APPLICATION_NAME = "stockscanner-portal"


def portal_application_name(alias=DEFAULT_DB_ALIAS):
    """The application_name the portal's sessions on `alias` carry."""
    return connections[alias].settings_dict.get("OPTIONS", {}).get("application_name") or APPLICATION_NAME
