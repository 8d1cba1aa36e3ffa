"""A throwaway PostgreSQL of the module's own, stopped, started or paused by the tests, and connections to it
through the portal's engine (opsadmin.runtime.postgresql) with short budgets; the `database` breaker made
fast, and closed again after each test."""

import dj_database_url
import pytest
from django.conf import settings
from django.db.utils import ConnectionHandler
from django.test import override_settings

from opsadmin.runtime import breakers
from opsadmin.runtime.postgresql import budgets
from tests.services import postgres_unavailable, skip_or_fail, throwaway_postgres

FAST_BREAKER = {"fail_max": 2, "reset_timeout": 1.0}
WEB_BUDGET = {"statement_timeout": "1s", "connect_attempts": 3, "connect_seconds": 0.6, "first_retry": 0.05}


@pytest.fixture(scope="module")
def server():
    """A throwaway server's URL (`.stop()`, `.start()`, `.pause()`, `.resume()`), on its own data directory."""
    reason = postgres_unavailable()
    if reason:
        skip_or_fail(reason)
    with throwaway_postgres() as url:
        yield url


@pytest.fixture
def breaker(django_db_blocker):
    """The `database` breaker, tripping after 2 failures for 1 s; closed and forgotten afterwards."""
    declarations = {**settings.PORTAL_BREAKERS}
    declarations["database"] = {**declarations["database"], **FAST_BREAKER}
    with override_settings(PORTAL_BREAKERS=declarations), django_db_blocker.unblock():
        database = breakers.get("database")
        database._state_storage.forget()
        yield database
        database.reset("test")
        database._state_storage.forget()


@pytest.fixture
def web(monkeypatch):
    """This process as a web process, with budgets short enough for tests: 1 s statements, a 0.6 s connect."""
    monkeypatch.setattr(budgets, "_kind", budgets.WEB)
    with override_settings(
        PORTAL_DB_BUDGETS={**settings.PORTAL_DB_BUDGETS, budgets.WEB: WEB_BUDGET}, PORTAL_DB_DEADLINE_GRACE=0.5
    ):
        yield WEB_BUDGET


@pytest.fixture
def connect_to(breaker):
    """`connect_to(url)`: a Django connection to `url` through the portal's engine, closed after the test."""
    opened = []

    def connect(url, **options):
        parsed = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
        parsed.update(ENGINE="opsadmin.runtime.postgresql", OPTIONS={"connect_timeout": 2, **options})
        connection = ConnectionHandler({"default": parsed})["default"]  # a handler of its own
        opened.append(connection)
        return connection

    yield connect
    for connection in opened:
        connection.close()
