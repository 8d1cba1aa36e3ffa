"""What the database catalog says about indexes and tables: one small function per question.

Each function answers with one catalog query over every index or table at once (never a
query per table), and returns plain dataclass rows. Every schema the role may use is read,
all but PostgreSQL's own (pg_catalog, information_schema, pg_toast, temporary ones): an
index outside the search path is named `schema.name` (its `key`), one on it by its name,
as the application resolves it. Drift compares the search path's indexes only, where
`migrate` builds them.

`index_rows`, `index_names` and `table_names` work on SQLite too (the write side matches
input names against them); the rest reads PostgreSQL's statistics views and is
PostgreSQL only. The rules follow PgHero's (lib/pghero/methods/indexes.rb).
"""

import re
from dataclasses import dataclass, field
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
    visible: bool = True  # its schema is on the search path (SQLite: always)
    partitioned: bool = False  # the index of a partitioned table: its partitions hold the data
    attached_to: str | None = None  # a partition's index attached to this partitioned index (its key)
    key: str = field(init=False)  # how input names it: `name` on the search path, else `schema.name`

    def __post_init__(self):
        self.key = index_key(self.schema, self.name, self.visible)

    @property
    def waits_for_partitions(self):
        """INVALID by design: a partitioned index made ON ONLY, valid once each partition's index is attached."""
        return self.partitioned and not self.valid


@dataclass
class DuplicateIndex:
    """A valid index whose keys are a left prefix of another index's (INCLUDE columns among the other's): covered.

    Never one that backs a constraint or is attached to a partitioned index: those can't be dropped alone.
    """

    schema: str
    table: str
    name: str
    definition: str
    size_bytes: int
    covered_by: str  # the covering index's key
    covering_definition: str
    visible: bool = True
    key: str = field(init=False)

    def __post_init__(self):
        self.key = index_key(self.schema, self.name, self.visible)
        self.covered_by = index_key(self.schema, self.covered_by, self.visible)


def index_key(schema, name, visible):
    """How an index (or table) is named to the portal: plain on the search path, else `schema.name`."""
    return name if visible else f"{schema}.{name}"


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
    visible: bool = True  # its schema is on the search path
    key: str = field(init=False)  # how input names it: `table` on the search path, else `schema.table`

    def __post_init__(self):
        self.key = index_key(self.schema, self.table, self.visible)


@dataclass(frozen=True)
class TableName:
    """A table as maintenance names it: `key` is `name` on the search path, else `schema.name`."""

    schema: str | None  # None on SQLite
    name: str
    visible: bool = True

    @property
    def key(self):
        return index_key(self.schema, self.name, self.visible)


@dataclass
class SeqScanTable:
    """A table that may be missing an index (PgHero's rule): `index_use_percent` of its scans used one."""

    schema: str
    table: str
    seq_scans: int
    index_scans: int
    index_use_percent: int  # whole percent, rounded down, as PgHero computes it
    live_rows: int
    visible: bool = True  # its schema is on the search path


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

# The schemas read: every one the role may use but PostgreSQL's own (pg_* is reserved to the system).
SCHEMAS = "n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' AND has_schema_privilege(n.oid, 'USAGE')"

# Every index of the schemas read; `{narrow}` optionally adds conditions on the catalog.
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
       pg_relation_size(x.indexrelid), coalesce(s.idx_scan, 0),
       n.nspname = ANY(current_schemas(false)), i.relkind = 'I',
       (SELECT CASE WHEN pn.nspname = ANY(current_schemas(false)) THEN p.relname ELSE pn.nspname || '.' || p.relname END
        FROM pg_inherits h JOIN pg_class p ON p.oid = h.inhparent JOIN pg_namespace pn ON pn.oid = p.relnamespace
        WHERE h.inhrelid = x.indexrelid)
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_am am ON am.oid = i.relam
LEFT JOIN pg_constraint con
       ON con.conindid = x.indexrelid AND con.conrelid = x.indrelid AND con.contype IN ('p', 'u', 'x')
LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = x.indexrelid
WHERE {schemas} {narrow}
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
    """Every index of the schemas read, or only those on `tables` (names), ordered by schema, table and name.

    The search path's schemas come first.
    """
    if connection.vendor != "postgresql":
        return _sqlite_index_rows(tables)
    if tables is None:
        return _postgres_index_rows()
    return _postgres_index_rows("t.relname = ANY(%s)", [list(tables)])


def invalid_indexes(rows=None):
    """INVALID indexes (a failed concurrent build), leaving out those a concurrent build is working on.

    A partitioned index made ON ONLY is left out too: it is INVALID until every partition's
    index is attached, by design. `rows` (index_rows()) lets a caller that has them pass them in.
    """
    rows = index_rows() if rows is None else rows
    return [row for row in rows if not row.valid and not row.building and not row.partitioned]


def unused_indexes(min_bytes=None, rows=None):
    """Valid indexes never scanned since the statistics were reset, not unique, primary or constraint-backed.

    Only those of at least `min_bytes` (settings.PORTAL_UNUSED_INDEX_MIN_BYTES, 10 MiB by
    default); largest first. A partition's index attached to a partitioned one is left out:
    it goes with its parent. A new index is "unused" until it is first scanned: the
    analysis weighs `scan_statistics` and each index's own age before calling it so.
    `rows` (index_rows()) lets a caller that has them pass them in.
    """
    if min_bytes is None:
        min_bytes = settings.PORTAL_UNUSED_INDEX_MIN_BYTES
    rows = index_rows() if rows is None else rows
    unused = [
        row
        for row in rows
        if row.valid
        and not (row.unique or row.primary or row.constraint or row.attached_to or row.partitioned)
        and not row.scans
        and row.size_bytes >= min_bytes
    ]
    return sorted(unused, key=lambda row: (-row.size_bytes, row.table, row.name))


def duplicate_indexes():
    """Valid indexes whose key columns are a left prefix of another valid index's on the same table.

    Same access method and predicate, the same key columns or expressions in the same order
    with the same operator class, collation and ordering, and this index's INCLUDE columns
    (compared as a set) among the other's remaining columns, so the other index serves every
    query this one does. An index that backs a constraint (primary key, unique, exclusion) or
    is attached to a partitioned index is never the duplicate: its plain twin is. Of two
    identical plain indexes, the one whose name sorts last is the duplicate (PgHero's rule).
    """
    with connection.cursor() as cursor:
        cursor.execute(_DUPLICATES)
        return [DuplicateIndex(*row) for row in cursor.fetchall()]


_DUPLICATES = f"""
WITH idx AS (
    SELECT x.indexrelid, x.indrelid, x.indnkeyatts AS keys, x.indnatts AS atts, x.indisunique, x.indisprimary,
           con.oid IS NOT NULL AS backs_constraint, i.relispartition AS attached, i.relname AS name, i.relam,
           ARRAY(
               SELECT pg_get_indexdef(x.indexrelid, k.n, true) FROM generate_series(1, x.indnatts) AS k(n) ORDER BY k.n
           ) AS items,
           string_to_array(x.indclass::text, ' ') AS classes,
           string_to_array(x.indoption::text, ' ') AS options,
           string_to_array(x.indcollation::text, ' ') AS collations,
           coalesce(pg_get_expr(x.indpred, x.indrelid), '') AS predicate
    FROM pg_index x
    JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_namespace n ON n.oid = i.relnamespace
    LEFT JOIN pg_constraint con
           ON con.conindid = x.indexrelid AND con.conrelid = x.indrelid AND con.contype IN ('p', 'u', 'x')
    WHERE x.indisvalid AND {SCHEMAS}
),
pairs AS (
    SELECT DISTINCT ON (d.indexrelid) d.indexrelid, d.indrelid, d.name, c.indexrelid AS covering, c.name AS covered_by
    FROM idx d
    JOIN idx c ON c.indrelid = d.indrelid AND c.indexrelid <> d.indexrelid AND c.relam = d.relam
              AND c.predicate = d.predicate AND c.keys >= d.keys
              AND c.items[1:d.keys] = d.items[1:d.keys] AND c.classes[1:d.keys] = d.classes[1:d.keys]
              AND c.options[1:d.keys] = d.options[1:d.keys] AND c.collations[1:d.keys] = d.collations[1:d.keys]
              AND d.items[d.keys + 1:d.atts] <@ c.items[d.keys + 1:c.atts]
    WHERE NOT (d.indisunique OR d.indisprimary OR d.backs_constraint OR d.attached)
      AND (c.keys > d.keys OR c.atts > d.atts OR c.indisunique OR c.indisprimary OR c.backs_constraint OR c.attached
           OR d.name > c.name)
    ORDER BY d.indexrelid, c.keys, c.atts, c.name
)
SELECT n.nspname, t.relname, p.name, pg_get_indexdef(p.indexrelid), pg_relation_size(p.indexrelid),
       p.covered_by, pg_get_indexdef(p.covering), n.nspname = ANY(current_schemas(false))
FROM pairs p
JOIN pg_class t ON t.oid = p.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
ORDER BY n.nspname <> ALL(current_schemas(false)), n.nspname, t.relname, p.name
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
    """Every index key of the schemas read, sorted: what index names from input are checked against.

    An index on the search path by its name, any other as `schema.name` (see `index_key`).
    """
    if connection.vendor == "postgresql":
        sql = f"""
            SELECT CASE WHEN n.nspname = ANY(current_schemas(false)) THEN i.relname
                        ELSE n.nspname || '.' || i.relname END
            FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_namespace n ON n.oid = i.relnamespace
            WHERE {SCHEMAS} ORDER BY 1
        """
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name"
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [name for (name,) in cursor.fetchall()]


def _postgres_index_rows(narrow="", params=()):
    """The index query, narrowed by `narrow` over the catalog."""
    columns = (
        'schema, "table", name, definition, columns, method, "unique", "primary", valid, building, '
        'predicate, expressions, "constraint", size_bytes, scans, visible, partitioned, attached_to'
    )
    inner = _POSTGRES_INDEXES.format(schemas=SCHEMAS, narrow=f"AND {narrow}" if narrow else "")
    sql = f'SELECT * FROM ({inner}) AS i({columns}) ORDER BY NOT visible, schema, "table", name'
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
    """The keys of `tables()`: what table names from input are checked against."""
    return [table.key for table in tables()]


def tables():
    """Every table ANALYZE and VACUUM take: the search path's first, then each other schema's, sorted.

    PostgreSQL: tables, partitioned tables and materialized views of every schema read.
    SQLite's own tables (sqlite_stat1 after an ANALYZE, sqlite_sequence) are not ours to maintain.
    """
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            names = connection.introspection.table_names(cursor, include_views=False)
        return [TableName(None, name) for name in sorted(names) if not name.startswith("sqlite_")]
    with connection.cursor() as cursor:
        cursor.execute(_TABLE_NAMES.format(schemas=SCHEMAS))
        return [TableName(*row) for row in cursor.fetchall()]


_TABLE_NAMES = """
SELECT n.nspname, c.relname, n.nspname = ANY(current_schemas(false)) AS visible
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm') AND {schemas}
ORDER BY NOT (n.nspname = ANY(current_schemas(false))), n.nspname, c.relname
"""


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
       round(100.0 * io.idx_blks_hit / nullif(io.idx_blks_hit + io.idx_blks_read, 0), 2),
       s.schemaname = ANY(current_schemas(false))
FROM pg_stat_user_tables s
JOIN pg_statio_user_tables io ON io.relid = s.relid
WHERE has_schema_privilege(s.schemaname, 'USAGE')
ORDER BY pg_total_relation_size(s.relid) DESC, s.relname
"""


def sequential_scan_tables(
    min_rows=SEQ_SCAN_MIN_ROWS, max_index_use_percent=SEQ_SCAN_MAX_INDEX_USE_PERCENT, min_scans=None
):
    """Tables that may be missing an index: PgHero's `missing_indexes` (lib/pghero/methods/indexes.rb), and a floor.

    At least `min_rows` live rows, at least one index scan (none is what PgHero calls
    "insufficient data"), and an index used in under `max_index_use_percent` of the scans,
    counted in whole percent rounded down: `100 * idx_scan / (seq_scan + idx_scan) < 95`.
    Unlike PgHero, also at least `min_scans` sequential scans (PORTAL_SEQ_SCAN_MIN_SCANS):
    a handful of reads of a table (a report, an ANALYZE's neighbour) is no workload to index for.
    """
    min_scans = settings.PORTAL_SEQ_SCAN_MIN_SCANS if min_scans is None else min_scans
    with connection.cursor() as cursor:
        cursor.execute(_SEQ_SCANS, [max_index_use_percent, min_rows, min_scans])
        return [SeqScanTable(*_floats(row)) for row in cursor.fetchall()]


_SEQ_SCANS = """
SELECT schemaname, relname, seq_scan, idx_scan, (100 * idx_scan / (seq_scan + idx_scan))::integer, n_live_tup,
       schemaname = ANY(current_schemas(false))
FROM pg_stat_user_tables
WHERE has_schema_privilege(schemaname, 'USAGE')
  AND idx_scan > 0 AND 100 * idx_scan / (seq_scan + idx_scan) < %s AND n_live_tup >= %s AND seq_scan >= %s
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
