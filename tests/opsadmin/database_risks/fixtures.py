"""A schema of slow dangers built for the tests, in a schema of its own with names that need quoting.

"risk zone": a table frozen by VACUUM FREEZE and one that isn't, sequences near their limits (an
integer serial, a bigserial, a bigint sequence owning an integer column), a NOT VALID check
constraint, and "Bloated Table" (autovacuum disabled, 90 % of its rows deleted, ANALYZEd, never
vacuumed). Built in autocommit (transactional tests), so the statistics see committed work; dropped after.
"""

from django.db import connection

from tests.helpers import sql

SCHEMA = "risk zone"
Q = '"risk zone"'
BLOATED = f'{Q}."Bloated Table"'
ROWS, KEPT_EVERY = 20_000, 10
INT4_MAX, INT8_MAX = 2_147_483_647, 9_223_372_036_854_775_807
SERIAL_AT, BIGSERIAL_AT, NARROW_AT = 2_100_000_000, 9_000_000_000_000_000_000, 2_000_000_000


def build():
    sql(
        f"DROP SCHEMA IF EXISTS {Q} CASCADE",
        f"CREATE SCHEMA {Q}",
        f'CREATE TABLE {Q}."Frozen" (id integer)',
        f"CREATE TABLE {Q}.thawed (id integer)",
        f"INSERT INTO {Q}.thawed VALUES (1)",
        f"CREATE TABLE {Q}.small_ids (id serial PRIMARY KEY)",
        f"SELECT setval('{Q}.small_ids_id_seq', {SERIAL_AT})",
        f"CREATE TABLE {Q}.big_ids (id bigserial PRIMARY KEY)",
        f"SELECT setval('{Q}.big_ids_id_seq', {BIGSERIAL_AT})",
        f"CREATE TABLE {Q}.narrow (id integer)",
        f"CREATE SEQUENCE {Q}.narrow_seq AS bigint OWNED BY {Q}.narrow.id",
        f"SELECT setval('{Q}.narrow_seq', {NARROW_AT})",
        f"ALTER TABLE {Q}.thawed ADD CONSTRAINT positive_id CHECK (id > 0) NOT VALID",
        f"CREATE TABLE {BLOATED} (id integer, payload text) WITH (autovacuum_enabled = false)",
        f"INSERT INTO {BLOATED} SELECT n, repeat('x', 200) FROM generate_series(1, {ROWS}) AS n",
        f"DELETE FROM {BLOATED} WHERE id % {KEPT_EVERY} <> 0",
    )
    flush_statistics()  # before ANALYZE, whose own counts would otherwise be added to these
    sql(f"ANALYZE {BLOATED}")
    flush_statistics()


def flush_statistics():
    """This backend's table statistics reach the shared ones now (PostgreSQL 15+), not up to a second later."""
    sql("SELECT pg_stat_force_next_flush()", "SELECT 1", "SELECT pg_stat_clear_snapshot()")


def drop():
    if connection.vendor == "postgresql":
        sql(f"DROP SCHEMA IF EXISTS {Q} CASCADE")
