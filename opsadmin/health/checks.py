"""Health checks: django-health-check check classes, and the configured list of them.

The list has two sources: the platform's checks in `PORTAL_HEALTH_CHECKS` (portal/settings.py,
as (name, check class, arguments, critical)), then the checks each capability declares
(opsadmin.spine.registry). `configured_checks()` turns them into `NamedCheck`s: the
library's checks wrapped with their short stable name (what every output shows: JSON keys,
the HTML table, metrics labels), whether they are critical, and their time budget. Both
/health/ready/ and /health/ (opsadmin/health/views.py) read it, and so does
`manage.py health_check health_ready --no-http`.

A check reports a problem by raising: `ServiceUnavailable` (failing), or
`ServiceWarning` (shown in the detail, never fails readiness).
"""

import contextlib
import dataclasses
import datetime
import functools
import inspect
from typing import ClassVar

from django.conf import settings
from django.core import checks as system_checks
from django.db import Error as DatabaseError
from django.db import connections
from django.utils import timezone
from django.utils.connection import ConnectionDoesNotExist
from django.utils.module_loading import import_string
from health_check import HealthCheck
from health_check.checks import Cache as LibraryCache
from health_check.checks import Database as LibraryDatabase
from health_check.contrib.redis import Redis as LibraryRedis
from health_check.exceptions import ServiceUnavailable, ServiceWarning

from opsadmin.runtime import breakers, drain, fleet, thread_connections
from opsadmin.spine import registry
from portal import shutting_down


@dataclasses.dataclass
class Database(LibraryDatabase):
    """The library's SELECT 1 on this thread's own connection: the library's opens and closes one per run
    when the thread has none (temporary_connection), which a readiness thread that keeps its own never wants."""

    uses_database: ClassVar[bool] = True

    def run(self):
        with contextlib.suppress(ConnectionDoesNotExist):  # the library's run says so
            try:
                connections[self.alias].ensure_connection()
            except DatabaseError as error:
                raise ServiceUnavailable(str(error).rsplit(":")[0]) from error  # as the library words it
        super().run()


@dataclasses.dataclass
class Migrations(HealthCheck):
    """Unapplied migrations: the code expects a schema the database does not have yet (or any more)."""

    uses_database: ClassVar[bool] = True
    alias: str = "default"

    def run(self):
        from django.db.migrations.loader import MigrationLoader

        try:
            connection = connections[self.alias]
        except ConnectionDoesNotExist as error:
            raise ServiceUnavailable("Database alias does not exist") from error
        try:
            connection.ensure_connection()  # kept by a readiness thread, closed by any other (NamedCheck)
            loader = MigrationLoader(connection, ignore_no_migrations=True)
        except DatabaseError as error:
            raise ServiceUnavailable("cannot read the applied migrations") from error
        # Every migration of the code's graph, not just the plan to its leaves: an app
        # migrated backwards shows, and so does a hole in the history (0002 missing, 0003 applied).
        pending = sorted(f"{app}.{name}" for app, name in set(loader.graph.nodes) - set(loader.applied_migrations))
        if pending:
            shown = ", ".join(pending[:5]) + (", ..." if len(pending) > 5 else "")
            raise ServiceUnavailable(f"{len(pending)} unapplied: {shown}")


@dataclasses.dataclass
class Draining(HealthCheck):
    """The instance was drained, or its server is shutting down: readiness answers 503 so the load balancer
    moves traffic away."""

    always_critical: ClassVar[bool] = True  # draining that doesn't take the instance out would mean nothing
    uses_database: ClassVar[bool] = True

    def run(self):
        if shutting_down.announced():
            raise ServiceUnavailable("shutting down")
        try:
            draining = drain.current_instance_is_draining()
        except DatabaseError as error:
            raise ServiceUnavailable("drain state unknown: database error") from error
        if draining:
            raise ServiceUnavailable("draining")


@dataclasses.dataclass
class TaskWorker(HealthCheck):
    """The task worker's heartbeat: a warning when none was seen within `max_age_seconds`."""

    uses_database: ClassVar[bool] = True
    max_age_seconds: float = dataclasses.field(default=60, repr=False)

    def run(self):
        try:
            last_seen = fleet.task_worker_last_seen()
        except DatabaseError as error:
            raise ServiceWarning("task worker heartbeat unknown: database error") from error
        if last_seen is None:
            raise ServiceWarning("no task worker has been seen")
        age = (timezone.now() - last_seen).total_seconds()
        if age > self.max_age_seconds:
            raise ServiceWarning(f"task worker last seen {age:.0f} s ago")


def redis_client(url, socket_timeout):
    """An asyncio client that fails fast: short socket timeouts and no retries."""
    from redis.asyncio import Redis as AsyncRedis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return AsyncRedis.from_url(
        url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout, retry=Retry(NoBackoff(), 0)
    )


@dataclasses.dataclass(repr=False)  # keep the library's repr (host, port, db; never the URL's password)
class Redis(LibraryRedis):
    """The library's Redis PING, built from a URL (`REDIS_URL`) with an asyncio client per run."""

    url: str = dataclasses.field(default="", repr=False)
    socket_timeout: float = dataclasses.field(default=0.5, repr=False)

    def __post_init__(self):
        if self.client_factory is None and self.client is None and self.url:
            self.client_factory = functools.partial(redis_client, self.url, self.socket_timeout)
        super().__post_init__()


@dataclasses.dataclass
class Cache(LibraryCache):
    """The library's set-and-get check of one alias, saying why when the cache breaker answered instead of Redis.

    The guarded client turns a Redis outage into a miss and a dropped write
    (opsadmin/runtime/guarded_cache.py), which the library alone reports as a key that
    "does not match".
    """

    async def run(self):
        try:
            await super().run()
        except ServiceUnavailable as failed:
            breaker = breakers.get("cache")
            if breaker.current_state == breakers.CLOSED and not breaker.fail_counter:
                raise
            status = breaker.status()
            raise ServiceUnavailable(
                f"Redis does not answer ({status.last_error}); cache breaker {status.state}"
            ) from (failed)


@dataclasses.dataclass(repr=False, eq=False)
class NamedCheck(HealthCheck):
    """A configured check: the wrapped check under its short name, its criticality and time budget.

    `run` is the wrapped check's own bound method (sync stays sync, async stays async), so
    the library runs it exactly as it would run the check itself.
    """

    name: str
    inner: HealthCheck
    critical: bool = False
    budget: float = 0.5  # seconds
    key: tuple = ()  # what identifies this configuration, to spot a run of it still going
    database: bool = False  # it reads the database: readiness runs it in a thread that keeps its connection

    def __post_init__(self):
        self.run = self.inner.run if inspect.iscoroutinefunction(self.inner.run) else self._run_and_tidy
        self.timeout = datetime.timedelta(seconds=self.budget)

    def _run_and_tidy(self):
        """Sync checks run in pool threads: what they opened there is closed, unless the thread keeps a working
        connection (readiness's database check threads: thread_connections), or it would stay open."""
        try:
            return self.inner.run()
        finally:
            thread_connections.done()

    def run(self):  # replaced per instance in __post_init__
        return self.inner.run()

    def __repr__(self):
        return self.name

    @property
    def labels(self):
        return {**self.inner.labels, "check": self.name}


def configured_checks():
    """Fresh instances of the configured checks, in order, as `NamedCheck`s: settings' first, then capabilities'.

    Critical: the entry's own flag, or its name in `PORTAL_CRITICAL_CHECKS`, or a check
    class that is always critical (draining). Budget: `PORTAL_HEALTH_CHECK_TIMEOUT`,
    capped by the readiness answer's own budget `PORTAL_READINESS_BUDGET`.
    """
    made_critical = set(settings.PORTAL_CRITICAL_CHECKS)
    budget = min(settings.PORTAL_HEALTH_CHECK_TIMEOUT, settings.PORTAL_READINESS_BUDGET)
    checks = []
    for name, path, kwargs, critical in check_entries():
        check_class = import_string(path) if isinstance(path, str) else path
        checks.append(
            NamedCheck(
                name=name,
                inner=check_class(**kwargs),
                critical=bool(critical) or name in made_critical or getattr(check_class, "always_critical", False),
                budget=budget,
                key=(name, str(path), repr(sorted(kwargs.items()))),
                database=getattr(check_class, "uses_database", False),
            )
        )
    return checks


def check_entries():
    """(name, check class or path, arguments, critical) of every configured check."""
    declared = [(check.name, check.check, check.arguments, check.critical) for check in registry.health_checks()]
    return [*settings.PORTAL_HEALTH_CHECKS, *declared]


@system_checks.register("opsadmin")
def critical_checks_are_configured(app_configs=None, **kwargs):
    """System check: every name in PORTAL_CRITICAL_CHECKS is a configured check (a typo would make nothing critical)."""
    unknown = sorted(set(settings.PORTAL_CRITICAL_CHECKS) - {entry[0] for entry in check_entries()})
    if not unknown:
        return []
    known = ", ".join(entry[0] for entry in check_entries())
    return [
        system_checks.Error(
            f"PORTAL_CRITICAL_CHECKS names checks that are not configured: {', '.join(unknown)}",
            hint=f"Use the names of configured checks: {known}.",
            id="opsadmin.health.E001",
        )
    ]
