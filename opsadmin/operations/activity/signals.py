"""Cancel a session's query (pg_cancel_backend) or end the session (pg_terminate_backend): the writes.

All or nothing: every pid given must be a session of this database that is not the portal's
own (its application_name, or the very session asking), or nothing is signalled and the
form says which pid is wrong and why. Checked when asked, and again, in one query, just
before the signals go: a session may have ended in between. Each pid's outcome is a step of
the run's report.
"""

from dataclasses import dataclass, field

from django import forms
from django.db import DatabaseError, connection, transaction

from opsadmin.operations.activity import queries, sections
from opsadmin.runtime.postgresql.application import PORTAL_SESSION_SQL
from opsadmin.spine.arguments import CanonicalListField
from opsadmin.spine.capability import Confirmation, Write
from opsadmin.spine.results import DONE, FAILED, Report, Step
from opsadmin.spine.runs import Refused

PERMISSION = "manage_backends"
CANCEL, TERMINATE = "cancel", "terminate"
TERMINATE_WAIT_MS = 5000  # PostgreSQL 14+: wait this long for the session to be gone, to report that it is
MOST = 100


class PidsField(CanonicalListField):
    invalid_message = "Not a process id (a whole number above 0)"
    noun = "pids"
    most = MOST

    def canonical(self, item):
        pid = int(item)
        if pid < 1 or pid > 2**31 - 1:
            raise ValueError(item)
        return pid


class BackendsForm(forms.Form):
    pids = PidsField(
        help_text="Process ids of this database's sessions (pg_stat_activity.pid), as Live queries lists them.",
        error_messages={"required": "Give at least one pid."},
    )

    def clean_pids(self):
        pids = self.cleaned_data["pids"]
        if not sections.supported():
            raise forms.ValidationError(
                "Live queries need PostgreSQL: the embedded SQLite database has no sessions to cancel or terminate.",
                code="unsupported",
            )
        if refusals := refused(pids):
            raise forms.ValidationError([f"{message}." for message in refusals], code="refused")
        return pids


def refused(pids):
    """Why each pid may not be signalled (none: all may): unknown, of another database, or the portal's own."""
    found = {backend.pid: backend for backend in queries.backends()}
    elsewhere = _databases_of([pid for pid in pids if pid not in found])
    reasons = []
    for pid in pids:
        backend = found.get(pid)
        if backend is None:
            where = elsewhere.get(pid)
            reasons.append(
                f"pid {pid} is a session of another database ({where}), not this one"
                if where
                else f"pid {pid} is not a session of this database (it may have ended)"
            )
        elif backend.this_process:
            reasons.append(f"pid {pid} is this very session, the one asking")
        elif backend.portal:
            reasons.append(f"pid {pid} is one of the portal's own sessions (application {backend.application!r})")
    return reasons


def _databases_of(pids):
    if not pids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(queries.FRESH)
        cursor.execute(
            "SELECT pid, coalesce(datname, backend_type) FROM pg_stat_activity WHERE pid = ANY(%s)", [list(pids)]
        )
        return dict(cursor.fetchall())


@dataclass(kw_only=True)
class SignalReport(Report):
    action: str  # cancel or terminate
    pids: list[int] = field(default_factory=list)
    signalled: list[int] = field(default_factory=list)  # the pids PostgreSQL signalled


def cancel_queries(*, pids):
    return _signal(CANCEL, pids)


def terminate_backends(*, pids):
    return _signal(TERMINATE, pids)


def _signal(action, pids):
    if not sections.supported():
        raise Refused("Live queries need PostgreSQL: nothing to cancel or terminate on SQLite")
    if refusals := refused(pids):
        raise Refused("nothing was signalled: " + "; ".join(refusals))
    described = {backend.pid: sections.describe(backend) for backend in queries.backends()}
    steps = [_one(action, pid, described.get(pid, f"pid {pid}")) for pid in pids]
    signalled = [pid for pid, step in zip(pids, steps, strict=True) if step.status == DONE]
    failed = len(pids) - len(signalled)
    verb = "Cancelled the query of" if action == CANCEL else "Terminated"
    summary = f"{verb} {_pid_list(signalled)}" if signalled else "Nothing was signalled"
    if failed:
        summary += f"; {failed:,} not: " + "; ".join(step.error for step in steps if step.status == FAILED)
    return SignalReport(
        action=action, pids=list(pids), signalled=signalled, steps=steps, summary=summary, ok=not failed
    )


def _one(action, pid, description):
    """Signal one session, in a savepoint (a refused signal must not spoil the caller's transaction)."""
    if action == CANCEL:
        sql, parameters, done = "SELECT pg_cancel_backend(%s)", [pid], "cancel sent"
    elif connection.pg_version >= 140000:
        sql, parameters, done = "SELECT pg_terminate_backend(%s, %s)", [pid, TERMINATE_WAIT_MS], "session ended"
    else:
        sql, parameters, done = "SELECT pg_terminate_backend(%s)", [pid], "terminate sent"
    step = Step(action="cancel query" if action == CANCEL else "terminate session", name=f"pid {pid}")
    step.sql = [sql % tuple(parameters)]
    step.note = description
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(queries.FRESH)
            # Checked again in the statement itself: still of this database, still not the portal's.
            cursor.execute(
                f"SELECT {sql.removeprefix('SELECT ')} FROM pg_stat_activity WHERE pid = %s"
                " AND datname = current_database() AND pid <> pg_backend_pid()"
                f" AND NOT {PORTAL_SESSION_SQL}",
                [*parameters, pid, *[sections.portal_application_name()] * 2],
            )
            row = cursor.fetchone()
    except DatabaseError as error:
        step.status, step.error = FAILED, f"pid {pid}: {queries_error(error)}"
        return step
    if row is None:
        step.status, step.error = FAILED, f"pid {pid}: no longer a session of this database"
    elif not row[0]:
        gone = "still there after the wait" if action == TERMINATE else "PostgreSQL could not signal it"
        step.status, step.error = FAILED, f"pid {pid}: {gone}"
    else:
        step.status, step.note = DONE, f"{done}: {description}"
    return step


def queries_error(error):
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _pid_list(pids, shown=10):
    more = len(pids) - shown
    return "pid " + ", ".join(str(pid) for pid in pids[:shown]) + (f" and {more} more" if more > 0 else "")


def _confirm(action):
    def confirm(cleaned):
        chosen = [backend for backend in queries.backends() if backend.pid in cleaned["pids"]]
        count = len(cleaned["pids"])
        if action == CANCEL:
            what = f"Cancel the running quer{'y' if count == 1 else 'ies'} of {count:,} session{'s' * (count != 1)}"
            consequence = (
                "Each session's current statement stops with an error (its client sees "
                "'canceling statement due to user request'); the sessions stay connected, and a transaction "
                "the statement was part of is left aborted for its client to roll back."
            )
        else:
            what = f"Terminate {count:,} session{'s' * (count != 1)}"
            consequence = (
                "Each session ends: its open transaction is rolled back and its client is disconnected "
                "(a connection pool opens another)."
            )
        return Confirmation(
            action=what, items=[sections.describe(backend) for backend in chosen], consequence=consequence
        )

    return confirm


CANCEL_QUERY = Write(
    "cancel_query", "Cancel queries", PERMISSION, BackendsForm, cancel_queries, confirm=_confirm(CANCEL)
)
TERMINATE_BACKEND = Write(
    "terminate_backend", "Terminate sessions", PERMISSION, BackendsForm, terminate_backends, confirm=_confirm(TERMINATE)
)
