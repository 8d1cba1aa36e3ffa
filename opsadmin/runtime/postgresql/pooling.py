"""Where work that needs a PostgreSQL session of its own runs, when DATABASE_URL is a transaction pooler.

PgBouncer in transaction mode (DATABASE_TRANSACTION_POOLING) hands each transaction a possibly
different server connection, so nothing may outlive a transaction on the `default` alias: no
session advisory lock, no session `SET`, no startup `options`, no server-side cursor. Work that
needs a session (the maintenance lock and `CREATE INDEX CONCURRENTLY`, the growth jobs' period
lock) runs on the `direct` alias (DATABASE_DIRECT_URL), which bypasses the pooler; without a
pooler it is `default`'s own server and works the same way.
"""

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS

DIRECT_ALIAS = "direct"


def transaction_pooled(connection):
    """Whether `connection` goes through a pooler that may change its server connection between transactions."""
    return bool(connection.settings_dict.get("TRANSACTION_POOLING"))


def session_alias():
    """The alias to open a connection of its own on for session work: `direct` when configured, else `default`."""
    return DIRECT_ALIAS if DIRECT_ALIAS in settings.DATABASES else DEFAULT_DB_ALIAS
