"""What the database catalog says about indexes and tables: one small function per question.

Each function answers with one catalog query over every index or table at once (never a
query per table), and returns plain dataclass rows. Everything is limited to the schemas
on the search path (`current_schemas(false)`), i.e. the names the application resolves.

`index_rows`, `index_names` and `table_names` work on SQLite too (the write side matches
input names against them); the rest reads PostgreSQL's statistics views and is
PostgreSQL only. The rules follow PgHero's (lib/pghero/methods/indexes.rb).
"""

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import connection

# PgHero's missing_indexes (lib/pghero/methods/indexes.rb): from 10,000 live rows, an index used in under 95 % of scans.
SEQ_SCAN_MIN_ROWS = 10_000
SEQ_SCAN_MAX_INDEX_USE_PERCENT = 95


@dataclass
class IndexRow:
    schema: str
    table: str
    name: str
    definition: str  # pg_get_indexdef; on SQLite the CREATE INDEX statement
    columns: list[str]  # key columns in order; an expression key shows as its expression
    method: str  # btree, gin, ...
    unique: bool
    primary: bool
    valid: bool  # False after a failed CREATE INDEX CONCURRENTLY (or while one builds it)
    building: bool  # a CREATE INDEX / REINDEX CONCURRENTLY is building it right now
    predicate: str | None  # the WHERE of a partial index
    expressions: str | None  # the expression keys, if any (PostgreSQL)
    constraint: str | None  # the constraint it backs: its name (SQLite: "PRIMARY KEY" or "UNIQUE")
    size_bytes: int | None  # None on SQLite
    scans: int | None  # index scans since the statistics were reset; None on SQLite


@dataclass
class DuplicateIndex:
    """A valid, non-unique index whose keys are a left prefix of another index's: the other covers it."""

    schema: str
    table: str
    name: str
    definition: str
    size_bytes: int
    covered_by: str
    covering_definition: str


@dataclass
class TableRow:
    schema: str
    table: str
    table_bytes: int
    index_bytes: int
    total_bytes: int
    live_rows: int
    dead_rows: int
    seq_scans: int
    index_scans: int
    index_use_percent: float | None  # share of scans that used an index; None before any scan
    last_vacuum: datetime | None
    last_autovacuum: datetime | None
    last_analyze: datetime | None
    last_autoanalyze: datetime | None
    table_hit_percent: float | None  # heap blocks found in shared buffers; None before any read
    index_hit_percent: float | None


@dataclass
class SeqScanTable:
    """A table that may be missing an index (PgHero's rule): `index_use_percent` of its scans used one."""

    schema: str
    table: str
    seq_scans: int
    index_scans: int
    index_use_percent: int  # whole percent, rounded down, as PgHero computes it
    live_rows: int


@dataclass
class ScanStatistics:
    """How long the scan counters behind "unused" have been counting in this database.

    `reset_at`: pg_stat_reset()'s time, None when never reset. `counting_since`: the latest
    time they can have started: the reset, or else (PostgreSQL doesn't say when they began)
    the later of the server's start and the first migration, which can only make "unused"
    wait longer than needed, never say it too soon.
    """

    reset_at: datetime | None
    counting_since: datetime


@dataclass
class CacheHitRates:
    """Database-wide share of blocks read from shared buffers rather than the OS, in %; PgHero wants 99."""

    table_percent: float | None
    index_percent: float | None


# --- Indexes ------------------------------------------------------------------------------

# Every index of the search path's schemas; `{narrow}` optionally adds conditions on the catalog.
# A REINDEX CONCURRENTLY's new index shows as index_relid; the old one turns invalid before
# it is dropped, so any invalid index on a table being reindexed concurrently counts as building.
_POSTGRES_INDEXES = """
WITH building AS MATERIALIZED (SELECT index_relid, relid, command FROM pg_stat_progress_create_index)
SELECT n.nspname, t.relname, i.relname, pg_get_indexdef(x.indexrelid),
       ARRAY(
           SELECT coalesce(a.attname::text, pg_get_indexdef(x.indexrelid, k.n, true))
           FROM generate_series(1, x.indnkeyatts) AS k(n)
           LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum > 0 AND a.attnum = x.indkey[k.n - 1]
           ORDER BY k.n
       ),
       am.amname, x.indisunique, x.indisprimary, x.indisvalid,
       EXISTS (
           SELECT 1 FROM building b
           WHERE b.index_relid = x.indexrelid OR (b.command = 'REINDEX CONCURRENTLY' AND b.relid = x.indrelid)
       ),
       pg_get_expr(x.indpred, x.indrelid), pg_get_expr(x.indexprs, x.indrelid), con.conname,
       pg_relation_size(x.indexrelid), coalesce(s.idx_scan, 0)
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_am am ON am.oid = i.relam
LEFT JOIN pg_constraint con
       ON con.conindid = x.indexrelid AND con.conrelid = x.indrelid AND con.contype IN ('p', 'u', 'x')
LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = x.indexrelid
WHERE n.nspname = ANY(current_schemas(false)) {narrow}
"""

# SQLite: every index of every table with its key columns, in one query over the pragma functions.
_SQLITE_INDEXES = """
SELECT m.name, il.name, il."unique", il.origin, ii.name, s.sql
FROM sqlite_master AS m
JOIN pragma_index_list(m.name) AS il
JOIN pragma_index_info(il.name) AS ii
LEFT JOIN sqlite_master AS s ON s.type = 'index' AND s.name = il.name
WHERE m.type = 'table' {tables}
ORDER BY m.name, il.name, ii.seqno
"""


def index_rows(tables=None):
    """Every index of the current schema(s), or only those on `tables`, ordered by table and name."""
    if connection.vendor != "postgresql":
        return _sqlite_index_rows(tables)
    if tables is None:
        return _postgres_index_rows()
    return _postgres_index_rows("t.relname = ANY(%s)", [list(tables)])


def invalid_indexes():
    """INVALID indexes (a failed concurrent build), leaving out those a concurrent build is working on."""
    return _postgres_index_rows("NOT x.indisvalid", then="NOT building")


def unused_indexes(min_bytes=None):
    """Valid indexes never scanned since the statistics were reset, not unique, primary or constraint-backed.

    Only those of at least `min_bytes` (settings.PORTAL_UNUSED_INDEX_MIN_BYTES, 10 MiB by
    default); largest first. A new index is "unused" until it is first scanned: the
    analysis weighs `scan_statistics` and each index's own age before calling it so.
    """
    if min_bytes is None:
        min_bytes = settings.PORTAL_UNUSED_INDEX_MIN_BYTES
    unused = (
        "x.indisvalid AND NOT x.indisunique AND NOT x.indisprimary AND con.conname IS NULL"
        " AND coalesce(s.idx_scan, 0) = 0 AND pg_relation_size(x.indexrelid) >= %s"
    )
    return _postgres_index_rows(unused, [min_bytes], order='size_bytes DESC, "table", name')


def duplicate_indexes():
    """Valid non-unique indexes whose key columns are a left prefix of another valid index on the same table.

    Same access method, same expressions and predicate, and the same operator class,
    collation and ordering per column, so the other index serves every query this one does.
    Of two identical non-unique indexes, the one whose name sorts last is the duplicate
    (PgHero's rule). Indexes with INCLUDE columns are never reported: those serve
    index-only scans the shorter index can't.
    """
    with connection.cursor() as cursor:
        cursor.execute(_DUPLICATES)
        return [DuplicateIndex(*row) for row in cursor.fetchall()]


_DUPLICATES = """
WITH idx AS (
    SELECT x.indexrelid, x.indrelid, x.indnkeyatts AS keys, x.indnatts AS atts, x.indisunique, x.indisprimary,
           i.relname AS name, i.relam,
           string_to_array(x.indkey::text, ' ') AS columns,
           string_to_array(x.indclass::text, ' ') AS classes,
           string_to_array(x.indoption::text, ' ') AS options,
           string_to_array(x.indcollation::text, ' ') AS collations,
           coalesce(pg_get_expr(x.indexprs, x.indrelid), '') AS expressions,
           coalesce(pg_get_expr(x.indpred, x.indrelid), '') AS predicate
    FROM pg_index x
    JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_namespace n ON n.oid = i.relnamespace
    WHERE x.indisvalid AND n.nspname = ANY(current_schemas(false))
),
pairs AS (
    SELECT DISTINCT ON (d.indexrelid) d.indexrelid, d.indrelid, d.name, c.indexrelid AS covering, c.name AS covered_by
    FROM idx d
    JOIN idx c ON c.indrelid = d.indrelid AND c.indexrelid <> d.indexrelid AND c.relam = d.relam
              AND c.expressions = d.expressions AND c.predicate = d.predicate AND c.keys >= d.keys
              AND c.columns[1:d.keys] = d.columns[1:d.keys] AND c.classes[1:d.keys] = d.classes[1:d.keys]
              AND c.options[1:d.keys] = d.options[1:d.keys] AND c.collations[1:d.keys] = d.collations[1:d.keys]
    WHERE NOT d.indisunique AND NOT d.indisprimary AND d.atts = d.keys
      AND (c.keys > d.keys OR c.indisunique OR c.indisprimary OR d.name > c.name)
    ORDER BY d.indexrelid, c.keys, c.name
)
SELECT n.nspname, t.relname, p.name, pg_get_indexdef(p.indexrelid), pg_relation_size(p.indexrelid),
       p.covered_by, pg_get_indexdef(p.covering)
FROM pairs p
JOIN pg_class t ON t.oid = p.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
ORDER BY t.relname, p.name
"""


def scan_statistics():
    """When this database's statistics were reset, and since when they have been counting at the latest."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT d.stats_reset, coalesce(
                d.stats_reset, greatest(pg_postmaster_start_time(), (SELECT min(applied) FROM django_migrations))
            )
            FROM pg_stat_database d WHERE d.datname = current_database()
            """
        )
        return ScanStatistics(*cursor.fetchone())


def index_names():
    """Every index name of the current schema(s), sorted: what index names from input are checked against."""
    if connection.vendor == "postgresql":
        sql = """
            SELECT i.relname FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_namespace n ON n.oid = i.relnamespace
            WHERE n.nspname = ANY(current_schemas(false)) ORDER BY 1
        """
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name"
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [name for (name,) in cursor.fetchall()]


def _postgres_index_rows(narrow="", params=(), *, then="true", order='"table", name'):
    """The index query, narrowed by `narrow` over the catalog and then by `then` over its output columns."""
    columns = (
        'schema, "table", name, definition, columns, method, "unique", "primary", valid, building, '
        'predicate, expressions, "constraint", size_bytes, scans'
    )
    inner = _POSTGRES_INDEXES.format(narrow=f"AND {narrow}" if narrow else "")
    sql = f"SELECT * FROM ({inner}) AS i({columns}) WHERE {then} ORDER BY {order}"
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return [IndexRow(*row) for row in cursor.fetchall()]


def _sqlite_index_rows(tables):
    narrow = f"AND m.name IN ({', '.join(['%s'] * len(tables))})" if tables is not None else ""
    with connection.cursor() as cursor:
        cursor.execute(_SQLITE_INDEXES.format(tables=narrow), list(tables or ()))
        fetched = cursor.fetchall()
    rows = {}
    for table, name, unique, origin, column, sql in fetched:
        row = rows.get(name)
        if row is None:
            constraint = {"pk": "PRIMARY KEY", "u": "UNIQUE"}.get(origin)
            predicate = re.search(r"\bWHERE\b\s*(.*)$", sql, re.IGNORECASE | re.DOTALL) if sql else None
            row = rows[name] = IndexRow(
                schema="main",
                table=table,
                name=name,
                definition=sql or "",
                columns=[],
                method="btree",
                unique=bool(unique),
                primary=origin == "pk",
                valid=True,
                building=False,
                predicate=predicate.group(1).strip() if predicate else None,
                expressions=None,
                constraint=constraint,
                size_bytes=None,
                scans=None,
            )
        row.columns.append(column or "(expression)")
    for row in rows.values():
        if not row.definition:  # SQLite's automatic index for a PRIMARY KEY or UNIQUE in CREATE TABLE
            row.definition = f"{row.constraint} ({', '.join(row.columns)})"
    return list(rows.values())


# --- Tables ------------------------------------------------------------------------------


def table_names():
    """Every table of the current schema(s), sorted: what table names from input are checked against.

    SQLite's own tables (sqlite_stat1 after an ANALYZE, sqlite_sequence) are not ours to maintain.
    """
    with connection.cursor() as cursor:
        return sorted(name for name in connection.introspection.table_names(cursor) if not name.startswith("sqlite_"))


def table_rows():
    """Per table: sizes, live and dead rows, scans, index use, last (auto)vacuum and (auto)analyze, cache hits.

    Largest first.
    """
    with connection.cursor() as cursor:
        cursor.execute(_TABLES)
        return [TableRow(*_floats(row)) for row in cursor.fetchall()]


_TABLES = """
SELECT s.schemaname, s.relname,
       pg_table_size(s.relid), pg_indexes_size(s.relid), pg_total_relation_size(s.relid),
       s.n_live_tup, s.n_dead_tup, s.seq_scan, coalesce(s.idx_scan, 0),
       round(100.0 * s.idx_scan / nullif(s.seq_scan + s.idx_scan, 0), 1),
       s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze,
       round(100.0 * io.heap_blks_hit / nullif(io.heap_blks_hit + io.heap_blks_read, 0), 2),
       round(100.0 * io.idx_blks_hit / nullif(io.idx_blks_hit + io.idx_blks_read, 0), 2)
FROM pg_stat_user_tables s
JOIN pg_statio_user_tables io ON io.relid = s.relid
WHERE s.schemaname = ANY(current_schemas(false))
ORDER BY pg_total_relation_size(s.relid) DESC, s.relname
"""


def sequential_scan_tables(min_rows=SEQ_SCAN_MIN_ROWS, max_index_use_percent=SEQ_SCAN_MAX_INDEX_USE_PERCENT):
    """Tables that may be missing an index: PgHero's `missing_indexes` (lib/pghero/methods/indexes.rb), as it is.

    At least `min_rows` live rows, at least one index scan (none is what PgHero calls
    "insufficient data"), and an index used in under `max_index_use_percent` of the scans,
    counted in whole percent rounded down: `100 * idx_scan / (seq_scan + idx_scan) < 95`.
    """
    with connection.cursor() as cursor:
        cursor.execute(_SEQ_SCANS, [max_index_use_percent, min_rows])
        return [SeqScanTable(*_floats(row)) for row in cursor.fetchall()]


_SEQ_SCANS = """
SELECT schemaname, relname, seq_scan, idx_scan, (100 * idx_scan / (seq_scan + idx_scan))::integer, n_live_tup
FROM pg_stat_user_tables
WHERE schemaname = ANY(current_schemas(false))
  AND idx_scan > 0 AND 100 * idx_scan / (seq_scan + idx_scan) < %s AND n_live_tup >= %s
ORDER BY n_live_tup DESC, relname
"""


def cache_hit_rates():
    """The database-wide table (heap) and index cache-hit rates, in %."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT
                (SELECT round(100.0 * sum(heap_blks_hit) / nullif(sum(heap_blks_hit + heap_blks_read), 0), 2)
                 FROM pg_statio_user_tables),
                (SELECT round(100.0 * sum(idx_blks_hit) / nullif(sum(idx_blks_hit + idx_blks_read), 0), 2)
                 FROM pg_statio_user_indexes)
            """
        )
        return CacheHitRates(*_floats(cursor.fetchone()))


def _floats(row):
    """PostgreSQL's numeric comes back as Decimal; the reports carry floats."""
    return [float(value) if isinstance(value, Decimal) else value for value in row]
