"""How long this process gives the database, by its kind: people wait on web processes, so theirs is short;
the task worker and the commands do long work, so theirs is long.

A process becomes a web process when portal.wsgi loads (runserver, gunicorn): `serve_web()`.
Every other process (manage.py commands, the task worker, tests) has the commands' budget.
Each connection reads it when it opens (PORTAL_DB_BUDGETS).
"""

from dataclasses import dataclass

from django.conf import settings

WEB, COMMAND = "web", "command"
_kind = COMMAND


@dataclass(frozen=True)
class Budget:
    statement_timeout: str  # the server's statement_timeout, a PostgreSQL duration; "0" turns it off
    connect_attempts: int  # tries of one connect
    connect_seconds: float  # all its tries together, pauses included
    first_retry: float  # the first pause between tries, in seconds; then doubling, with jitter


def serve_web():
    """This process answers requests (portal.wsgi): its connections get the web budget."""
    global _kind
    _kind = WEB


def kind():
    """This process's kind: WEB or COMMAND."""
    return _kind


def current():
    """The budget of this process's kind, as the settings say now."""
    return Budget(**settings.PORTAL_DB_BUDGETS[_kind])
