"""Client-side deadlines for psycopg2: a hung server (stopped, or behind a network that drops packets) must not
hold a worker forever.

In its default blocking mode psycopg2 waits inside libpq with no client timeout, and TCP
keepalives do not help when the server's host still acknowledges packets. With a wait
callback ("green" mode, as psycopg2's extras.wait_select) every wait on a connection comes
back here: connecting, each statement, commit and rollback, each fetch of a server-side
cursor. `wait` polls the socket against a deadline: the connection's `wait_limit` (the
connect timeout while connecting, then the statement budget plus a grace) and no later than
this thread's own deadline, when one is set (`within`). Past it, `DeadlineExceeded`: an
OperationalError without SQLSTATE, which the database breaker counts; psycopg2 then closes
that connection (green_panic) and Django opens another.

Connections made elsewhere (psycopg2.connect: test services, scripts) wait as in blocking
mode: their own connect_timeout while connecting, no limit after. psycopg2 refuses COPY in
green mode: stocks/seeding.py lifts the callback around its COPY.
"""

import contextlib
import math
import select
import threading
import time

import psycopg2
import psycopg2.extensions
from django.conf import settings

from portal.environment import duration_seconds

POLL_EVENTS = {psycopg2.extensions.POLL_READ: select.POLLIN, psycopg2.extensions.POLL_WRITE: select.POLLOUT}

_thread = threading.local()


class DeadlineExceeded(psycopg2.OperationalError):
    """The server did not answer in time: hung, or unreachable."""


class DeadlineConnection(psycopg2.extensions.connection):
    """A psycopg2 connection whose every wait lasts at most `wait_limit` seconds (None: no limit)."""

    def __init__(self, dsn, async_=0, *, wait_limit):
        self.wait_limit = wait_limit  # set first: `wait` reads it while the connect below runs
        super().__init__(dsn, async_)


def install():
    """Route every psycopg2 wait of this process through `wait` (idempotent)."""
    if psycopg2.extensions.get_wait_callback() is not wait:
        psycopg2.extensions.set_wait_callback(wait)


def wait(connection):
    """psycopg2's wait callback: poll until the connection is ready, or raise DeadlineExceeded at the deadline.

    poll(2) rather than select(2), which fails for descriptors above 1023.
    """
    started = time.monotonic()
    connecting = connection.status == psycopg2.extensions.STATUS_SETUP  # read before poll() moves it on
    deadline = _deadline(_limit(connection, connecting), started)
    while True:
        state = connection.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        if state not in POLL_EVENTS:
            raise psycopg2.OperationalError(f"bad state from poll: {state}")
        poller = select.poll()
        poller.register(connection.fileno(), POLL_EVENTS[state])
        timeout = None if deadline is None else max(0, math.ceil((deadline - time.monotonic()) * 1000))
        if not poller.poll(timeout) and timeout is not None:
            doing = "connect" if connecting else "answer"
            raise DeadlineExceeded(
                f"timeout expired: the server did not {doing} within {time.monotonic() - started:.2f} s"
            )


def _limit(connection, connecting):
    """A DeadlineConnection's `wait_limit`; for one made elsewhere, libpq's connect_timeout while it connects
    (green mode leaves that to the callback), and no limit after, as in blocking mode."""
    if isinstance(connection, DeadlineConnection):
        return connection.wait_limit
    timeout = psycopg2.extensions.parse_dsn(connection.dsn).get("connect_timeout") if connecting else None
    return float(timeout) if timeout and float(timeout) > 0 else None


def _deadline(limit, now):
    """The earlier of `limit` seconds from now and this thread's deadline; None when neither is set."""
    own = getattr(_thread, "deadline", None)
    if limit is None:
        return own
    return now + limit if own is None else min(now + limit, own)


@contextlib.contextmanager
def within(seconds):
    """Every database wait of this thread ends within `seconds` from now (readiness checks: their budget)."""
    previous = getattr(_thread, "deadline", None)
    _thread.deadline = time.monotonic() + seconds if previous is None else min(previous, time.monotonic() + seconds)
    try:
        yield
    finally:
        _thread.deadline = previous


def remaining():
    """Seconds left before this thread's deadline (inf without one)."""
    own = getattr(_thread, "deadline", None)
    return float("inf") if own is None else max(0.0, own - time.monotonic())


def statement_limit(statement_timeout):
    """How long a connection waits for one statement: the server's statement_timeout plus the grace (None for "0")."""
    seconds = duration_seconds(statement_timeout)
    return seconds + settings.PORTAL_DB_DEADLINE_GRACE if seconds else None


def allow(connection, statement_timeout):
    """Let the statements of this Django connection run `statement_timeout` (plus the grace) before the client
    gives up: for a session that sets that statement_timeout itself (index builds). No-op on other engines."""
    raw = connection.connection
    if isinstance(raw, DeadlineConnection):
        raw.wait_limit = statement_limit(statement_timeout)


@contextlib.contextmanager
def limited(raw, seconds):
    """The waits of one psycopg2 connection limited to `seconds` for a while (Django's health check of it)."""
    previous = raw.wait_limit
    raw.wait_limit = seconds
    try:
        yield
    finally:
        raw.wait_limit = previous
