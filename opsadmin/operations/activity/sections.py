"""The activity capability's reads as sections, and what its admin page shows.

On SQLite (the embedded default) there are no other sessions: every read answers "needs
PostgreSQL" with status ok (nothing is wrong, there is just nothing to see), never an error.
"""

import dataclasses
from dataclasses import dataclass, field

from django import forms
from django.conf import settings
from django.db import connection

from opsadmin.operations.activity import queries
from opsadmin.runtime.postgresql import pooling
from opsadmin.runtime.postgresql.application import is_portal_session, parse_session_name, portal_application_name
from opsadmin.spine import humanize
from opsadmin.spine.capability import NotFound
from opsadmin.spine.results import FAILING, OK, WARNING, Section, to_json

NEEDS_POSTGRESQL = "needs PostgreSQL"
UNSUPPORTED = (
    "Live queries need PostgreSQL: the portal runs on its embedded SQLite database, "
    "which has no other sessions, locks or connections to show."
)
QUERY_SHOWN = 200  # characters of a query in a list; the `pid` read and the page's toggle show it whole
LONG_RUNNING, IDLE_IN_TRANSACTION, BLOCKED = "long-running", "idle in transaction", "blocked"


@dataclass
class Unsupported:
    supported: bool = False
    vendor: str = ""
    message: str = UNSUPPORTED


def supported():
    return connection.vendor == "postgresql"


def _unsupported():
    return Section(OK, NEEDS_POSTGRESQL, UNSUPPORTED, data=Unsupported(vendor=connection.vendor))


def _thresholds():
    return {
        "long_query_seconds": settings.PORTAL_ACTIVITY_LONG_QUERY_SECONDS,
        "idle_in_transaction_seconds": settings.PORTAL_ACTIVITY_IDLE_IN_TRANSACTION_SECONDS,
        "connections_warn_percent": settings.PORTAL_ACTIVITY_CONNECTIONS_WARN_PERCENT,
    }


def flagged(backend):
    """The backend with what the page highlights: a query running longer than PORTAL_ACTIVITY_LONG_QUERY_SECONDS,
    a transaction left idle longer than PORTAL_ACTIVITY_IDLE_IN_TRANSACTION_SECONDS, a wait for a lock."""
    flags = []
    if backend.state == "active" and (backend.duration_seconds or 0) >= settings.PORTAL_ACTIVITY_LONG_QUERY_SECONDS:
        flags.append(LONG_RUNNING)
    idle = settings.PORTAL_ACTIVITY_IDLE_IN_TRANSACTION_SECONDS
    if (backend.state or "").startswith("idle in transaction") and (backend.state_seconds or 0) >= idle:
        flags.append(IDLE_IN_TRANSACTION)
    if backend.blocked_by:
        flags.append(BLOCKED)
    backend.flags = flags
    return backend


def shortened(backend):
    """A copy of the backend with its query cut to QUERY_SHOWN characters, for a list."""
    if len(backend.query) <= QUERY_SHOWN:
        return backend
    return dataclasses.replace(backend, query=backend.query[: QUERY_SHOWN - 1] + "…", query_truncated=True)


def describe(backend):
    """ "pid 123 (alice, psql, active 2 min 05 s): SELECT ..." for lists and confirmations."""
    who = ", ".join(filter(None, (backend.user, backend.application or backend.backend_type)))
    state = backend.state or backend.backend_type
    took = f" {humanize.duration(backend.duration_seconds)}" if backend.duration_seconds is not None else ""
    text = " ".join(backend.query.split())
    text = text if len(text) <= 80 else text[:79] + "…"
    return f"pid {backend.pid} ({who}, {state}{took})" + (f": {text}" if text else "")


# --- Live queries ---------------------------------------------------------------------------------------


@dataclass
class LiveQueries:
    supported: bool
    backends: list[queries.Backend]
    long_running: int
    idle_in_transaction: int
    blocked: int
    thresholds: dict
    portal_application_name: str


class QueriesForm(forms.Form):
    pid = forms.IntegerField(
        required=False, min_value=1, help_text="One session's pid: that session alone, its query in full."
    )


def live_queries(pid=None):
    """Every session of this database, longest-running first; with `pid`, that one with its whole query."""
    if not supported():
        return _unsupported()
    found = [flagged(backend) for backend in queries.backends(pid)]
    if pid is not None and not found:
        raise NotFound(f"no session with pid {pid} in this database")
    listed = found if pid is not None else [shortened(backend) for backend in found]
    data = _live(listed)
    lines = [describe(backend) + f" [{', '.join(backend.flags)}]" for backend in found if backend.flags]
    problems = data.long_running + data.idle_in_transaction + data.blocked
    headline = f"{humanize.plural(len(found), 'session')}" + (f", {_problems(data)}" if problems else "")
    detail = f"{humanize.plural(sum(b.state == 'active' for b in found), 'query', 'queries')} running now"
    return Section(WARNING if problems else OK, headline, detail, lines=lines, data=data)


def _live(backends):
    return LiveQueries(
        supported=True,
        backends=backends,
        long_running=sum(LONG_RUNNING in backend.flags for backend in backends),
        idle_in_transaction=sum(IDLE_IN_TRANSACTION in backend.flags for backend in backends),
        blocked=sum(BLOCKED in backend.flags for backend in backends),
        thresholds=_thresholds(),
        portal_application_name=portal_application_name(),
    )


def _problems(data):
    parts = [
        (data.long_running, LONG_RUNNING),
        (data.idle_in_transaction, IDLE_IN_TRANSACTION),
        (data.blocked, BLOCKED),
    ]
    return ", ".join(f"{number:,} {word}" for number, word in parts if number)


# --- Blocking -------------------------------------------------------------------------------------------


@dataclass
class BlockingNode:
    """A session in the lock wait tree: what it waits for from its parent (None for a root), whom it blocks."""

    pid: int
    user: str | None
    application: str
    state: str | None
    duration_seconds: float | None
    query: str
    portal: bool
    waits_for: dict | None  # {locktype, relation, mode, blocker_modes} of its wait on its parent
    blocks: list["BlockingNode"] = field(default_factory=list)


@dataclass
class Blocking:
    supported: bool
    roots: list[BlockingNode]  # sessions that block others and wait for nobody (or a cycle's first)
    waiting: int  # sessions waiting for a lock


def blocking():
    """The lock wait tree: each blocking session with the sessions waiting for it, on which lock, in which mode."""
    if not supported():
        return _unsupported()
    waits = queries.lock_waits()
    if not waits:
        return Section(OK, "no lock waits", "no session of this database waits for a lock", data=Blocking(True, [], 0))
    sessions = {backend.pid: backend for backend in queries.backends()}
    roots = _tree(waits, sessions)
    waiting = len({wait.pid for wait in waits})
    data = Blocking(True, roots, waiting)
    lines = [_line(depth, node) for depth, node in rows(roots)]
    headline = f"{humanize.plural(waiting, 'session')} waiting"
    detail = f"blocked by {', '.join(f'pid {root.pid}' for root in roots)}"
    return Section(WARNING, headline, detail, lines=lines, data=data)


def _tree(waits, sessions):
    children = {}
    for wait in waits:
        children.setdefault(wait.blocker, []).append(wait)
    waiting = {wait.pid for wait in waits}
    root_pids = [pid for pid in children if pid not in waiting]
    # A cycle (a deadlock about to be broken) has no root: start from its lowest pid.
    placed = set()

    def node(pid, wait, path):
        backend = sessions.get(pid)
        made = BlockingNode(
            pid=pid,
            user=backend.user if backend else None,
            application=backend.application if backend else "",
            state=backend.state if backend else None,
            duration_seconds=backend.duration_seconds if backend else None,
            query=shortened(backend).query if backend else "",
            portal=backend.portal if backend else False,
            waits_for=None
            if wait is None
            else {
                "locktype": wait.locktype,
                "relation": wait.relation,
                "mode": wait.mode,
                "blocker_modes": wait.blocker_modes,
            },
        )
        placed.add(pid)
        if pid not in path:
            made.blocks = [node(child.pid, child, path | {pid}) for child in children.get(pid, [])]
        return made

    roots = [node(pid, None, frozenset()) for pid in root_pids]
    for pid in sorted(children):
        if pid not in placed:
            roots.append(node(pid, None, frozenset()))
    return roots


def rows(roots, depth=0):
    """(depth, node) of the tree in order, for a page or the command line."""
    for root in roots:
        yield depth, root
        yield from rows(root.blocks, depth + 1)


def _line(depth, node):
    lock = node.waits_for
    waits = f" waits for {lock['mode']} on {lock['relation'] or lock['locktype']}" if lock else ""
    return f"{'  ' * depth}pid {node.pid} ({node.user or '?'}, {node.state or '?'}){waits}"


# --- Connections ----------------------------------------------------------------------------------------


@dataclass
class Connections:
    supported: bool
    used: int  # client sessions of the whole server: what max_connections limits
    max_connections: int
    reserved: int  # superuser_reserved_connections: the rest is what the portal's role can have
    percent: float
    this_database: int
    by_state: dict[str, int]
    by_user: dict[str, int]
    by_application: dict[str, int]
    by_client: dict[str, int]
    long_running: int
    idle_in_transaction: int
    blocked: int
    warn_percent: float
    portal: list["PortalConnections"]  # the portal's own, by instance and purpose
    portal_total: int
    # Through a transaction pooler the portal's are the pool's server sessions, each named by its last client.
    pooled: bool


@dataclass
class PortalConnections:
    """The portal's own sessions of one instance and purpose (their application_name: postgresql/application.py)."""

    instance: str  # "" for a session named by the bare prefix (an older release)
    purpose: str
    count: int
    by_state: dict[str, int]


def portal_connections(counts):
    """The portal's own client sessions in `counts` (connection_counts), by instance and purpose, in that order."""
    prefix, found = portal_application_name(), {}
    for row in counts:
        if is_portal_session(row.application, prefix):
            group = found.setdefault(parse_session_name(row.application, prefix), {})
            group[row.state] = group.get(row.state, 0) + row.count
    return [
        PortalConnections(instance, purpose, sum(states.values()), dict(sorted(states.items())))
        for (instance, purpose), states in sorted(found.items())
    ]


def connections():
    """Client sessions against max_connections (warning from PORTAL_ACTIVITY_CONNECTIONS_WARN_PERCENT, failing
    once only superusers can connect), and how many queries run long, idle in a transaction or wait for a lock."""
    if not supported():
        return _unsupported()
    counts = queries.connection_counts()
    maximum, reserved, database = queries.connection_limits()
    used = sum(row.count for row in counts)
    percent = 100 * used / maximum if maximum else 0.0
    live = _live([flagged(backend) for backend in queries.backends()])
    data = Connections(
        supported=True,
        used=used,
        max_connections=maximum,
        reserved=reserved,
        percent=round(percent, 1),
        this_database=sum(row.count for row in counts if row.database == database),
        by_state=_totals(counts, "state"),
        by_user=_totals(counts, "user"),
        by_application=_totals(counts, "application"),
        by_client=_totals(counts, "client"),
        long_running=live.long_running,
        idle_in_transaction=live.idle_in_transaction,
        blocked=live.blocked,
        warn_percent=settings.PORTAL_ACTIVITY_CONNECTIONS_WARN_PERCENT,
        portal=(portal := portal_connections(counts)),
        portal_total=sum(group.count for group in portal),
        pooled=pooling.transaction_pooled(connection),
    )
    full = used >= maximum - reserved
    crowded = percent >= data.warn_percent
    problems = _problems(live)
    status = FAILING if full else WARNING if crowded or problems else OK
    headline = f"{used:,} of {maximum:,} connections"
    detail = f"{humanize.percentage(percent)} of max_connections"
    if full:
        detail += f"; only superusers can connect ({reserved:,} reserved)"
    elif crowded:
        detail += f", at or above the {humanize.percentage(data.warn_percent)} warning"
    if problems:
        detail += f"; {problems}"
    lines = [f"{state}: {number:,}" for state, number in data.by_state.items()]
    lines += [f"the portal's, {group.instance or '?'} {group.purpose or '?'}: {group.count:,}" for group in data.portal]
    lines += [describe(backend) + f" [{', '.join(backend.flags)}]" for backend in live.backends if backend.flags]
    return Section(status, headline, detail, lines=lines, data=data)


def _totals(counts, attribute):
    totals = {}
    for row in counts:
        key = getattr(row, attribute) or "(none)"
        totals[key] = totals.get(key, 0) + row.count
    return dict(sorted(totals.items(), key=lambda item: (-item[1], item[0])))


# --- The page -------------------------------------------------------------------------------------------


def page_context():
    """The Live queries page: what needs attention first (connections, lock waits), then every session."""
    if not supported():
        return {"supported": False, "unsupported": UNSUPPORTED}
    status = connections()
    tree = blocking()
    live = live_queries()
    full = {backend.pid: backend.query for backend in queries.backends()}
    return {
        "supported": True,
        "connections": status,
        "blocking": tree,
        "blocking_rows": [
            {"depth": depth, "indent": depth * 1.5, "node": node} for depth, node in rows(tree.data.roots)
        ],
        "live": live,
        "entries": [
            {
                "backend": backend,
                "full_query": full.get(backend.pid, backend.query),
                "duration": humanize.duration(backend.duration_seconds),
                "state_for": humanize.duration(backend.state_seconds),
                "mine": backend.portal or backend.this_process,
            }
            for backend in live.data.backends
        ],
        "thresholds": _thresholds(),
        "raw": to_json({"connections": status, "blocking": tree, "queries": live}, indent=2),
        "connection_groups": [
            ("State", status.data.by_state),
            ("User", status.data.by_user),
            ("Application", status.data.by_application),
            ("Client", status.data.by_client),
        ],
    }
