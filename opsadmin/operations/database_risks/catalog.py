"""What PostgreSQL's catalog says about the slow dangers: one small function per question, one query each.

Every schema the role may use is read (`has_schema_privilege(..., 'USAGE')`), except the
system's own (pg_catalog, information_schema, pg_toast and the temporary schemas), and each
row carries its schema and its name quoted as SQL needs it (`format('%I.%I')`). PostgreSQL only.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import connection

# The schemas a question looks at: `{schema}` is the column holding a schema's name.
VISIBLE = (
    "{schema} NOT IN ('pg_catalog', 'information_schema')"
    " AND {schema} !~ '^pg_(toast|temp_|toast_temp_)'"
    " AND has_schema_privilege({schema}, 'USAGE')"
)


def _visible(column):
    return VISIBLE.format(schema=column)


def _rows(row_class, statement, parameters=()):
    """Rows of `row_class`; `parameters` always given, so a literal % is always written %%."""
    with connection.cursor() as cursor:
        cursor.execute(statement, parameters)
        return [row_class(*row) for row in cursor.fetchall()]


# --- Transaction ID and multixact wraparound --------------------------------------------------


@dataclass
class FreezeLimits:
    """Autovacuum forces an anti-wraparound VACUUM of a table once its oldest xid (multixact) is this old."""

    freeze_max_age: int  # autovacuum_freeze_max_age
    multixact_freeze_max_age: int  # autovacuum_multixact_freeze_max_age


@dataclass
class DatabaseAge:
    database: str
    xid_age: int  # age(datfrozenxid): transactions since the database's oldest unfrozen xid
    multixact_age: int  # mxid_age(datminmxid)
    xid_percent: float  # of autovacuum_freeze_max_age
    multixact_percent: float  # of autovacuum_multixact_freeze_max_age


@dataclass
class TableAge:
    schema: str
    table: str
    qualified: str  # schema.table, quoted where SQL needs it
    xid_age: int  # age(relfrozenxid), the older of the table's and its TOAST table's
    multixact_age: int  # mxid_age(relminmxid), likewise
    xid_percent: float  # of autovacuum_freeze_max_age
    multixact_percent: float  # of autovacuum_multixact_freeze_max_age
    size_bytes: int


_PERCENTS = (
    "({xid}) * 100::float8 / current_setting('autovacuum_freeze_max_age')::bigint,"
    " ({multixact}) * 100::float8 / current_setting('autovacuum_multixact_freeze_max_age')::bigint"
)


def freeze_limits():
    return _rows(
        FreezeLimits,
        "SELECT current_setting('autovacuum_freeze_max_age')::bigint,"
        " current_setting('autovacuum_multixact_freeze_max_age')::bigint",
    )[0]


def database_ages():
    """Every database of the server, oldest first: wraparound stops the whole server, whichever database it is."""
    return _rows(
        DatabaseAge,
        "SELECT datname, age(datfrozenxid), mxid_age(datminmxid), "
        + _PERCENTS.format(xid="age(datfrozenxid)", multixact="mxid_age(datminmxid)")
        + " FROM pg_database ORDER BY 2 DESC, 1",
        [],
    )


def table_ages():
    """Every table and materialized view, oldest first; a table's TOAST table counts as part of it (as PgHero's)."""
    return _rows(
        TableAge,
        f"""
        SELECT n.nspname, c.relname, format('%%I.%%I', n.nspname, c.relname),
               greatest(age(c.relfrozenxid), age(t.relfrozenxid)),
               greatest(mxid_age(c.relminmxid), mxid_age(t.relminmxid)),
               {
            _PERCENTS.format(
                xid="greatest(age(c.relfrozenxid), age(t.relfrozenxid))",
                multixact="greatest(mxid_age(c.relminmxid), mxid_age(t.relminmxid))",
            )
        },
               pg_table_size(c.oid)
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
        WHERE c.relkind IN ('r', 'm') AND {_visible("n.nspname")}
        ORDER BY 4 DESC, 1, 2
        """,
    )


# --- Sequences -------------------------------------------------------------------------------


@dataclass
class SequenceRow:
    schema: str
    sequence: str
    qualified: str
    data_type: str  # the sequence's own: smallint, integer or bigint
    last_value: int | None  # None before its first nextval(), or without the privilege to read it
    min_value: int
    max_value: int
    increment: int
    column: str | None  # "schema.table.column" of the serial or identity column owning it, if any
    column_type: str | None  # that column's type: an integer column caps a bigint sequence at 2,147,483,647
    limit: int  # the value it can't pass: its own max_value (min_value counting down), or its column type's
    used_percent: float | None  # last_value of `limit`; None before its first nextval()


def sequences():
    """Every sequence, with the column owning it (serial: pg_depend 'a'; identity: 'i') and that column's type."""
    return _rows(
        SequenceRow,
        f"""
        SELECT s.schemaname, s.sequencename, format('%%I.%%I', s.schemaname, s.sequencename),
               s.data_type::text, s.last_value, s.min_value, s.max_value, s.increment_by,
               CASE WHEN a.attname IS NOT NULL THEN format('%%I.%%I.%%I', tn.nspname, tc.relname, a.attname) END,
               format_type(a.atttypid, NULL), l.limit_value,
               s.last_value * 100::float8 / nullif(l.limit_value, 0)
        FROM pg_sequences s
        JOIN pg_namespace sn ON sn.nspname = s.schemaname
        JOIN pg_class sc ON sc.relnamespace = sn.oid AND sc.relname = s.sequencename
        LEFT JOIN pg_depend d
               ON d.classid = 'pg_class'::regclass AND d.objid = sc.oid AND d.refclassid = 'pg_class'::regclass
              AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')
        LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
        LEFT JOIN pg_class tc ON tc.oid = d.refobjid
        LEFT JOIN pg_namespace tn ON tn.oid = tc.relnamespace
        CROSS JOIN LATERAL (
            SELECT CASE WHEN s.increment_by > 0
                        THEN least(s.max_value, CASE a.atttypid WHEN 'int2'::regtype THEN 32767
                                                                WHEN 'int4'::regtype THEN 2147483647 END)
                        ELSE greatest(s.min_value, CASE a.atttypid WHEN 'int2'::regtype THEN -32768
                                                                   WHEN 'int4'::regtype THEN -2147483648 END)
                   END AS limit_value
        ) l
        WHERE {_visible("s.schemaname")}
        ORDER BY 1, 2
        """,
    )


# --- NOT VALID constraints -------------------------------------------------------------------


@dataclass
class InvalidConstraint:
    """A constraint added NOT VALID and never validated: new rows obey it, old ones may not."""

    schema: str
    table: str
    qualified: str
    name: str
    kind: str  # check, foreign key, not null
    definition: str


def not_valid_constraints():
    return _rows(
        InvalidConstraint,
        f"""
        SELECT n.nspname, c.relname, format('%%I.%%I', n.nspname, c.relname), con.conname,
               CASE con.contype WHEN 'c' THEN 'check' WHEN 'f' THEN 'foreign key' WHEN 'n' THEN 'not null'
                    ELSE con.contype::text END,
               pg_get_constraintdef(con.oid)
        FROM pg_constraint con
        JOIN pg_class c ON c.oid = con.conrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE NOT con.convalidated AND {_visible("n.nspname")}
        ORDER BY 1, 2, 4
        """,
    )


# --- Estimated bloat -------------------------------------------------------------------------


@dataclass
class BloatEstimate:
    """Space a table or btree index takes beyond what its live rows need, estimated (see `bloat_estimates`)."""

    schema: str
    table: str
    index: str | None  # None for the table itself
    qualified: str  # the table's, or the index's
    kind: str  # "table" or "index"
    size_bytes: int
    wasted_bytes: int
    wasted_percent: float  # of size_bytes


# The method of PgHero's index_bloat (lib/pghero/methods/indexes.rb, after PostgreSQL Experts'
# index_bloat_check.sql) and of ioguix's pgsql-bloat-estimation for tables: from pg_stats, the average
# width of a row's (or an index entry's) values net of NULLs; add the tuple header and the line
# pointer, align to MAXALIGN (8), fit as many as the fillfactor lets into a block less its page header
# (and a btree's special space), and compare the pages the live rows (reltuples) need with those the
# relation has. An estimate, not a measurement: columns without statistics (never ANALYZEd) are left
# out, per-column alignment padding is ignored, and a table's TOAST is not counted (pgstattuple measures).
_BLOAT = f"""
WITH constants AS (SELECT current_setting('block_size')::numeric AS bs, 24 AS page_header, 8 AS ma),
table_widths AS (
    SELECT c.oid, c.reltuples, bool_or(s.null_frac > 0) AS has_nulls, count(*) AS columns,
           sum((1 - s.null_frac) * s.avg_width) AS width
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname AND NOT s.inherited
    WHERE c.relkind IN ('r', 'm') AND c.reltuples >= 0 AND {_visible("n.nspname")}
    GROUP BY c.oid, c.reltuples
),
table_needs AS (
    SELECT w.oid,
           ceil(w.reltuples * (4
                               + ceil((23 + CASE WHEN w.has_nulls THEN ceil(w.columns / 8.0) ELSE 0 END) / k.ma) * k.ma
                               + ceil(w.width / k.ma) * k.ma)
                / ((k.bs - k.page_header) * coalesce(
                       (SELECT substring(o FROM 'fillfactor=(\\d+)')::numeric
                        FROM unnest(c.reloptions) o WHERE o LIKE 'fillfactor=%%'), 100) / 100)) AS pages
    FROM table_widths w JOIN pg_class c ON c.oid = w.oid CROSS JOIN constants k
),
index_widths AS (
    SELECT x.indexrelid AS oid, x.indrelid, i.reltuples, bool_or(s.null_frac > 0) AS has_nulls,
           sum((1 - s.null_frac) * s.avg_width) AS width
    FROM pg_index x
    JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_am am ON am.oid = i.relam AND am.amname = 'btree'
    JOIN pg_class t ON t.oid = x.indrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = ANY(x.indkey) AND a.attnum > 0
    JOIN pg_stats s
      ON s.schemaname = n.nspname AND s.tablename = t.relname AND s.attname = a.attname AND NOT s.inherited
    WHERE i.reltuples >= 0 AND x.indexprs IS NULL AND {_visible("n.nspname")}
    GROUP BY x.indexrelid, x.indrelid, i.reltuples
),
index_needs AS (
    SELECT w.oid,
           1 + ceil(w.reltuples * (4 + ceil((8 + CASE WHEN w.has_nulls THEN 4 ELSE 0 END + w.width) / k.ma) * k.ma)
                    / ((k.bs - k.page_header - 16) * coalesce(
                           (SELECT substring(o FROM 'fillfactor=(\\d+)')::numeric
                            FROM unnest(i.reloptions) o WHERE o LIKE 'fillfactor=%%'), 90) / 100)) AS pages
    FROM index_widths w JOIN pg_class i ON i.oid = w.oid CROSS JOIN constants k
),
estimates AS (
    SELECT e.oid, e.oid AS table_oid, NULL::oid AS index_oid, e.pages FROM table_needs e
    UNION ALL
    SELECT e.oid, x.indrelid, x.indexrelid, e.pages FROM index_needs e JOIN pg_index x ON x.indexrelid = e.oid
)
SELECT n.nspname, t.relname, i.relname, format('%%I.%%I', n.nspname, coalesce(i.relname, t.relname)),
       CASE WHEN e.index_oid IS NULL THEN 'table' ELSE 'index' END,
       pg_relation_size(e.oid),
       greatest(pg_relation_size(e.oid) - (e.pages * k.bs)::bigint, 0),
       coalesce(
           greatest(pg_relation_size(e.oid) - e.pages * k.bs, 0) * 100::float8 / nullif(pg_relation_size(e.oid), 0), 0
       )
FROM estimates e
JOIN pg_class t ON t.oid = e.table_oid
JOIN pg_namespace n ON n.oid = t.relnamespace
LEFT JOIN pg_class i ON i.oid = e.index_oid
CROSS JOIN constants k
ORDER BY 7 DESC, 1, 2, 3 NULLS FIRST
"""


def bloat_estimates():
    """Every ANALYZEd table and btree index (on columns, not expressions) with its estimated waste, most first."""
    return _rows(BloatEstimate, _BLOAT)


# --- Dead rows and autovacuum ----------------------------------------------------------------


@dataclass
class VacuumRow:
    schema: str
    table: str
    qualified: str
    live_rows: int  # n_live_tup, as the statistics estimate it
    dead_rows: int  # n_dead_tup: what VACUUM would reclaim
    autovacuum_enabled: bool  # False when the table's reloptions say autovacuum_enabled=false (or off, no, 0)
    last_vacuum: datetime | None  # the later of the manual and automatic ones
    last_autovacuum: datetime | None
    dead_percent: float  # of live and dead rows together


def vacuum_rows():
    """Every user table's live and dead rows, and whether autovacuum may run on it; most dead rows first."""
    return _rows(
        VacuumRow,
        f"""
        SELECT s.schemaname, s.relname, format('%%I.%%I', s.schemaname, s.relname), s.n_live_tup, s.n_dead_tup,
               NOT EXISTS (
                   SELECT 1 FROM unnest(c.reloptions) o
                   WHERE o ~* '^autovacuum_enabled=(f|fa|fal|fals|false|n|no|of|off|0)$'
               ),
               greatest(s.last_vacuum, s.last_autovacuum), s.last_autovacuum,
               coalesce(s.n_dead_tup * 100::float8 / nullif(s.n_live_tup + s.n_dead_tup, 0), 0)
        FROM pg_stat_user_tables s
        JOIN pg_class c ON c.oid = s.relid
        WHERE {_visible("s.schemaname")}
        ORDER BY s.n_dead_tup DESC, 1, 2
        """,
    )


# --- Settings --------------------------------------------------------------------------------


@dataclass
class SettingRow:
    name: str
    value: str  # as SHOW says it: "128MB", "on", "4"
    bytes: int | None  # a memory setting's value in bytes
    source: str  # default, configuration file, ...


SETTINGS = (
    "autovacuum",
    "track_counts",
    "shared_buffers",
    "work_mem",
    "maintenance_work_mem",
    "effective_cache_size",
    "random_page_cost",
    "max_connections",
    "max_parallel_workers_per_gather",
    "statement_timeout",  # this session's: through a transaction pooler, the role's (dangers.server_settings)
)


def server_settings():
    """The settings the advice is about, by name."""
    rows = _rows(
        SettingRow,
        "SELECT name, current_setting(name),"
        " CASE WHEN unit IN ('B', 'kB', '8kB', 'MB') THEN pg_size_bytes(current_setting(name)) END, source"
        " FROM pg_settings WHERE name = ANY(%s)",
        [list(SETTINGS)],
    )
    return {row.name: row for row in rows}


# --- Replication -----------------------------------------------------------------------------


@dataclass
class SlotRow:
    name: str
    kind: str  # physical or logical
    database: str | None  # a logical slot's
    active: bool
    retained_bytes: int | None  # WAL kept for it (from its restart_lsn); None on a standby or before it reserves any
    wal_status: str | None  # reserved, extended, unreserved, lost


@dataclass
class ReplicaRow:
    name: str  # application_name
    client: str | None
    state: str
    lag_bytes: int | None  # WAL not yet replayed there
    replay_lag_seconds: float | None


def replication_slots():
    return _rows(
        SlotRow,
        """
        SELECT slot_name, slot_type, database, active,
               CASE WHEN NOT pg_is_in_recovery() AND restart_lsn IS NOT NULL
                    THEN pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint END,
               wal_status
        FROM pg_replication_slots ORDER BY active, 5 DESC NULLS LAST, 1
        """,
    )


def replicas():
    return _rows(
        ReplicaRow,
        """
        SELECT application_name, client_addr::text, state,
               CASE WHEN NOT pg_is_in_recovery() AND replay_lsn IS NOT NULL
                    THEN pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint END,
               extract(epoch FROM replay_lag)::float
        FROM pg_stat_replication ORDER BY 1, 2
        """,
    )
