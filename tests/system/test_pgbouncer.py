"""The portal through PgBouncer in transaction mode (Debian's package), set up as docs/deployment.md#pgbouncer says.

DATABASE_URL names a throwaway PgBouncer in front of a throwaway PostgreSQL, DATABASE_DIRECT_URL the server
itself, and the role has its statement_timeout. Through it: the PostgreSQL pass's database tests; an index
build, and a run the task worker performs; and, with one server connection for every client of the pool,
neither the maintenance lock, nor a timeout the portal sets, nor a half-read export's cursor is left on it for
the next client (each check fails when its part of the transaction-mode path is taken away).
"""

import json
import os
import subprocess
import sys
import time
from contextlib import closing

import psycopg2
import pytest

from tests.services import (
    REPO,
    pgbouncer_unavailable,
    postgres_unavailable,
    redis_unavailable,
    skip_or_fail,
    stop_process,
    throwaway_pgbouncer,
    throwaway_postgres,
    throwaway_redis,
)
from tests.system.conftest import manage, server_environment

pytestmark = pytest.mark.sqlite  # runs once, in the SQLite pass: it brings its own PostgreSQL, Redis and PgBouncer

DATABASE_TESTS = [
    "tests/opsadmin/database",
    "tests/opsadmin/database_risks",
    "tests/opsadmin/postgresql",
    "tests/opsadmin/test_health.py",
]  # not test_readiness_connections.py: it counts the server sessions the checks keep, which are PgBouncer's here
ROLE_STATEMENT_TIMEOUT = "30min"  # the commands' budget (budgets.py), given by the role as the docs say
DECLARED = "stock_movers_idx"  # a Meta.indexes index on stocks_stock


def query(url, sql, params=()):
    with closing(psycopg2.connect(url, connect_timeout=5)) as connection, connection.cursor() as cursor:
        connection.autocommit = True
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else None


@pytest.fixture
def postgres():
    """A throwaway PostgreSQL whose role has the statement_timeout PgBouncer's clients get."""
    for reason in (postgres_unavailable(), pgbouncer_unavailable()):
        if reason:
            skip_or_fail(reason)
    with throwaway_postgres() as url:
        query(url, f"ALTER ROLE postgres SET statement_timeout = '{ROLE_STATEMENT_TIMEOUT}'")
        yield url


def through(pgbouncer, postgres):
    """The database settings through `pgbouncer`, the session work direct to `postgres`."""
    return {"DATABASE_URL": pgbouncer, "DATABASE_DIRECT_URL": postgres, "DATABASE_TRANSACTION_POOLING": "1"}


def pooled(postgres, pgbouncer, **extra):
    """A served portal's environment (server_environment) through `pgbouncer`."""
    return server_environment(**through(pgbouncer, postgres), **extra)


def migrate(environment):
    migrated = manage("migrate", "--no-input", environment=environment, timeout=300)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr


def index_valid(url, name):
    rows = query(
        url, "SELECT indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE relname = %s", [name]
    )
    return bool(rows and rows[0][0])


def test_the_database_tests_pass_through_pgbouncer(postgres):
    reason = redis_unavailable()
    if reason:
        skip_or_fail(reason)
    with throwaway_redis() as redis_url, throwaway_pgbouncer(postgres) as pgbouncer:
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not sqlite", *DATABASE_TESTS]
        environment = {**os.environ, **through(pgbouncer, postgres), "REDIS_URL": redis_url}  # the pass's, pooled
        result = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_an_index_build_and_a_task_worker_run_through_pgbouncer(postgres, tmp_path):
    with throwaway_pgbouncer(postgres) as pgbouncer:
        environment = pooled(postgres, pgbouncer, PYTHONUNBUFFERED="1")
        migrate(environment)
        query(postgres, f'DROP INDEX "{DECLARED}"')

        built = manage("optimize_database", "--index", DECLARED, environment=environment, timeout=120)
        assert built.returncode == 0, built.stdout + built.stderr
        assert index_valid(postgres, DECLARED)

        query(postgres, f'DROP INDEX "{DECLARED}"')
        queued = manage("optimize_database", "--index", DECLARED, "--enqueue", environment=environment)
        assert queued.returncode == 0, queued.stdout + queued.stderr
        [(run,)] = query(postgres, "SELECT max(id) FROM opsadmin_opsrun")
        log = tmp_path / "worker.log"
        command = [sys.executable, "manage.py", "ops_worker", "--no-reload", "--no-startup-delay"]
        with open(log, "wb") as output:
            worker = subprocess.Popen(command, cwd=REPO, env=environment, stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while query(postgres, "SELECT status FROM opsadmin_opsrun WHERE id = %s", [run]) != [("succeeded",)]:
                assert worker.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.2)
        finally:
            stop_process(worker)
    assert index_valid(postgres, DECLARED)


# Run by the portal's settings through PgBouncer, with a second client of the same one-connection pool.
LEAK_CHECK = """
import json, os, django, psycopg2
django.setup()
from opsadmin.operations.database import maintenance, runner
from opsadmin.spine.catalog_locks import bounded_catalog_reads
from stocks.models import Stock
other = psycopg2.connect(os.environ["DATABASE_URL"])
other.autocommit = True
def seen():
    with other.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('lock_timeout'), current_setting('statement_timeout'),"
            " (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()),"
            " (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'), (SELECT count(*) FROM pg_cursors)"
        )
        return cursor.fetchone()
with runner.maintenance_session(builds=True):
    during = seen()
bounded = bounded_catalog_reads(seen)()  # as the Database pages' catalog reads are
maintenance.create_missing_indexes(dry_run=True)
Stock.objects.bulk_create(Stock(ticker=ticker, name=ticker) for ticker in ("AAA", "BBB", "CCC"))
export = Stock.objects.export_rows(chunk_size=1)
next(export)  # half read: a server-side cursor would be open now
print(json.dumps({"during": during, "bounded": bounded, "after": seen()}))
"""


def test_no_lock_timeout_or_cursor_stays_on_a_pooled_server_connection(postgres):
    """The maintenance lock is held, on the direct connection; a lock_timeout, a statement_timeout, a cursor are
    not left on the pool's one server connection."""
    with throwaway_pgbouncer(postgres, pool_size=1) as pgbouncer:
        environment = pooled(postgres, pgbouncer, DJANGO_SETTINGS_MODULE="portal.settings")
        migrate(environment)
        command = [sys.executable, "-c", LEAK_CHECK]
        result = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["during"] == ["0", ROLE_STATEMENT_TIMEOUT, 0, 1, 0]
    assert seen["bounded"] == ["0", ROLE_STATEMENT_TIMEOUT, 0, 0, 0]
    assert seen["after"] == ["0", ROLE_STATEMENT_TIMEOUT, 0, 0, 0]
