"""What each thread's database connection is for, and how long it is kept.

Django's connections are per thread, and Django ends them (past CONN_MAX_AGE, or broken) only around
requests. A process's own long-lived threads (the database checks of readiness, the heartbeat and command
channel, the task worker's loop and its schedule) do small periodic work: closing after each run, or every
CONN_MAX_AGE, would fork a server process per period on every instance for nothing. So their connections are
kept for the thread's life: `done()` after each run closes one only if it broke (errors, then not usable) or
was left outside autocommit, and the next run opens another, once per period, never in a loop; with
CONN_HEALTH_CHECKS the next run tries a kept one before using it. Request threads keep theirs for
DATABASE_CONN_MAX_AGE; any other thread closes what it opened.

A thread's purpose also names its connections to PostgreSQL (postgresql/application.py): web, check,
heartbeat, task, scheduled or command.
"""

import threading
import weakref

from django.db import DatabaseError, close_old_connections, connections
from django.db.backends.signals import connection_created

from opsadmin.runtime.postgresql import budgets

WEB, CHECK, HEARTBEAT, TASK, SCHEDULED, COMMAND = "web", "check", "heartbeat", "task", "scheduled", "command"
KEPT = frozenset({CHECK, HEARTBEAT, TASK, SCHEDULED})  # the long-lived threads' purposes

_thread = threading.local()
_kept = weakref.WeakSet()  # the kept connections' wrappers, whichever thread owns them


def serve(purpose):
    """This thread's connections serve `purpose` from now on (a thread's first act; a pool's initializer)."""
    _thread.purpose = purpose


def purpose():
    """This thread's purpose: its own, else its process's (web in a web process, else command)."""
    return getattr(_thread, "purpose", None) or (WEB if budgets.kind() == budgets.WEB else COMMAND)


def keeps():
    """Whether this thread keeps its connections past CONN_MAX_AGE."""
    return purpose() in KEPT


def done():
    """This thread's run is over: a kept connection stays unless it broke; a thread that keeps none closes all."""
    if not keeps():
        connections.close_all()
        return
    try:
        close_old_connections()
    except DatabaseError:
        connections.close_all()  # one that can't even be checked is not kept


def close_kept():
    """Close every kept connection of this process, from any thread: the process is ending, or the database it
    uses is about to go (tests). Their threads open new ones if they run again."""
    for wrapper in list(_kept):
        wrapper.inc_thread_sharing()
        try:
            wrapper.close()
        finally:
            wrapper.dec_thread_sharing()


def _keep(sender, connection, **kwargs):
    """connection_created: a long-lived thread's new connection outlives CONN_MAX_AGE (Django set when it ends)."""
    if keeps():
        connection.close_at = None
        _kept.add(connection)


connection_created.connect(_keep, dispatch_uid="opsadmin.runtime.thread_connections")
