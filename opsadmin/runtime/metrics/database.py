"""Database statements and their time, in every process: an execute wrapper on every connection Django opens.

Installed from `connection_created`, so statements from anywhere count (requests, heartbeats, the command
channel), not only those a request makes. A connection object outlives its closes and reopens (one per thread
and alias), so the wrapper is added once per object, not once per connect.
"""

import time

from django.db.backends.signals import connection_created

from opsadmin.runtime.metrics import DATABASE_ERRORS, DATABASE_SECONDS


def _observe(execute, sql, params, many, context):
    alias = context["connection"].alias
    start = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    except Exception:
        DATABASE_ERRORS.labels(alias).inc()
        raise
    finally:
        DATABASE_SECONDS.labels(alias).observe(time.perf_counter() - start)


def watch(sender, connection, **kwargs):
    """connection_created's receiver: time this connection's statements from now on."""
    if _observe not in connection.execute_wrappers:
        connection.execute_wrappers.append(_observe)


def install():
    connection_created.connect(watch, dispatch_uid="portal-metrics-database")
