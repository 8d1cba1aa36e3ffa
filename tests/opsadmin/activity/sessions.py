"""Sessions of other clients of the test database, as psql or another application would open them.

Plain psycopg2 connections (not the portal's engine, so not named as the portal's, unless asked):
one holds a lock in an open transaction, another waits for it, a third stands by. Every one
opened is closed by `close_all` (the test database can't be dropped while one is connected).
"""

import contextlib
import threading
import time

import psycopg2
from django.db import connection

APPLICATION = "activity-test"
_opened = []


class Session:
    """A client session: `pid`, `run(sql)` in the foreground, `start(sql)` in a thread (its error kept)."""

    def __init__(self, application_name=APPLICATION, *, autocommit=True):
        params = {
            key: value
            for key, value in connection.get_connection_params().items()
            if key in ("dbname", "database", "user", "password", "host", "port")
        }
        self.conn = psycopg2.connect(**params, application_name=application_name)
        self.conn.autocommit = autocommit
        _opened.append(self)
        self.pid = self.conn.get_backend_pid()
        self.thread, self.error, self.rows = None, None, None

    def run(self, sql, parameters=None):
        with self.conn.cursor() as cursor:
            cursor.execute(sql, parameters)
            return cursor.fetchall() if cursor.description else None

    def start(self, sql):
        def work():
            try:
                self.rows = self.run(sql)
            except psycopg2.Error as error:
                self.error = error

        self.thread = threading.Thread(target=work, daemon=True)
        self.thread.start()
        return self

    def finished(self, timeout=10):
        self.thread.join(timeout)
        return not self.thread.is_alive()

    @property
    def alive(self):
        """Whether the server still has this session (asked from the portal's own connection)."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # the test's transaction would keep its first look
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [self.pid])
            return cursor.fetchone()[0] == 1


def wait_until_waiting(session, timeout=10):
    """Until `session` waits for a lock (pg_stat_activity says so)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [session.pid])
            row = cursor.fetchone()
        if row and row[0] == "Lock":
            return
        time.sleep(0.02)
    raise AssertionError(f"pid {session.pid} never waited for a lock")


def blocked_pair(table="stocks_stock"):
    """(blocker, waiter): the blocker holds `table` ACCESS EXCLUSIVE in an open transaction, the waiter reads it."""
    blocker = Session("activity-blocker", autocommit=False)
    blocker.run(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    waiter = Session("activity-waiter").start(f"SELECT count(*) FROM {table}")
    wait_until_waiting(waiter)
    return blocker, waiter


def close_all():
    """Close every session in the order they were opened: a blocker first, so its waiter finishes before closing."""
    while _opened:
        session = _opened.pop(0)
        if session.thread is not None:
            session.thread.join(10)  # its lock's holder, opened before it, is closed already
        with contextlib.suppress(psycopg2.Error):
            session.conn.close()
