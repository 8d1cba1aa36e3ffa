"""Index suggestions from the real workload (PostgreSQL), by Dexter's method.

pg_stat_statements finds the slow, frequent queries; hypopg lets the planner price indexes
that don't exist. For each query: EXPLAIN its generic plan (normalised queries carry $1,
$2... in place of values), take the columns of each table the plan scans that its
conditions, joins and sorts name, create hypothetical one- and two-column btree indexes on
all of them at once, EXPLAIN again, and keep, per table, an index that the plan uses and
that alone cuts the planned cost by half or more: the narrowest such, one column over two,
unless the two-column index cuts the one-column index's cost by half again. Where an
INVALID index (a failed concurrent build) has the winner's columns, the suggestion is to
rebuild that one rather than create another. Nothing is built and no statement runs:
PREPARE and EXPLAIN without ANALYZE plan a statement only, and hypothetical indexes live in
this backend's memory until `hypopg_reset()`.

Planning can still run functions (the planner folds immutable ones), so only the portal's
own statements are read from pg_stat_statements, a statement that might run code that is
not built in is never planned (`plan_safety`), and the plans are taken in a read-only
transaction that is rolled back: what the check misses cannot write, and no prepared
statement, hypothetical index or setting outlives the advisor, also when it fails.

Without the extensions there are no suggestions; `extension_status` says what is missing
and how to enable it.
"""

import itertools
import json
import re
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from opsadmin.operations.database import catalog, plan_safety

PG_STAT_STATEMENTS, HYPOPG = "pg_stat_statements", "hypopg"
STATEMENT_NAME = "opsadmin_index_suggestion"  # PREPAREd and deallocated for each plan
MAX_CANDIDATE_COLUMNS = 6  # of each table: 6 single and 30 two-column candidates on it
PLAN_CONDITIONS = ("Index Cond", "Recheck Cond", "Filter", "Hash Cond", "Merge Cond", "Join Filter")
PLAN_SORT_KEYS = ("Sort Key", "Presorted Key")
CREATE_HYPOPG = "CREATE EXTENSION hypopg in this database."
IDENTIFIER = r'"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*'
# In an expression as EXPLAIN prints it: a string literal, or a dotted name (with its "(" if it names a function).
PLAN_TOKEN = re.compile(rf"'(?:[^']|'')*'|(?:{IDENTIFIER})(?:\.(?:{IDENTIFIER}))*\(?")


@dataclass
class ExtensionStatus:
    name: str
    ready: bool
    problem: str  # "" when ready
    how_to_enable: str  # "" when ready


@dataclass
class SlowQuery:
    query: str  # normalised: values replaced by $1, $2...
    calls: int
    mean_ms: float
    total_ms: float
    rows: int
    not_planned: str = ""  # a SELECT the advisor won't plan: why ("" for any other)


@dataclass
class Suggestion:
    table: str
    columns: list[str]
    name: str  # Django's name for an index on these columns
    create_sql: str  # plain CREATE INDEX; the write side builds it CONCURRENTLY ("" for a rebuild)
    cost_before: float  # the planner's total cost of the query without, then with the index
    cost_after: float
    query: str
    rebuild: str = ""  # an INVALID index with these columns (its key): rebuild it rather than create another


def extension_status():
    """pg_stat_statements (loaded via shared_preload_libraries and created here) and hypopg (created here)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, installed_version IS NOT NULL FROM pg_available_extensions WHERE name = ANY(%s)",
            [[PG_STAT_STATEMENTS, HYPOPG]],
        )
        created = dict(cursor.fetchall())  # absent: the server has no such extension installed
        loaded = created.get(PG_STAT_STATEMENTS) and _can_read_statements(cursor)
    return [_statements_status(created.get(PG_STAT_STATEMENTS), loaded), _hypopg_status(created.get(HYPOPG))]


def _can_read_statements(cursor):
    """Created is not enough: without shared_preload_libraries the view raises an error."""
    try:
        with transaction.atomic():
            cursor.execute("SELECT 1 FROM pg_stat_statements LIMIT 1")
    except DatabaseError:
        return False
    return True


def _statements_status(created, loaded):
    preload = "add pg_stat_statements to shared_preload_libraries in postgresql.conf and restart PostgreSQL"
    create = "CREATE EXTENSION pg_stat_statements in this database"
    if loaded:
        return ExtensionStatus(PG_STAT_STATEMENTS, True, "", "")
    if created is None:
        problem = "pg_stat_statements is not installed on the database server"
        how = f"Install PostgreSQL's contrib modules on the server, {preload}, then run {create}."
    elif not created:
        problem = "pg_stat_statements is not created in this database"
        how = f"Run {create} (and, if it isn't there yet, {preload})."
    else:
        problem = "pg_stat_statements is created but not loaded"
        how = f"A{preload[1:]}."
    return ExtensionStatus(PG_STAT_STATEMENTS, False, problem, how)


def _hypopg_status(created):
    if created:
        return ExtensionStatus(HYPOPG, True, "", "")
    if created is None:
        package = f"postgresql-{connection.pg_version // 10000}-hypopg"
        how = f"Install hypopg on the database server (Debian/Ubuntu: apt-get install {package}), then run "
        return ExtensionStatus(HYPOPG, False, "hypopg is not installed on the database server", how + CREATE_HYPOPG)
    return ExtensionStatus(HYPOPG, False, "hypopg is not created in this database", "Run " + CREATE_HYPOPG)


def slow_queries(min_calls=None, min_mean_ms=None, limit=20):
    """The portal's statements in this database called at least `min_calls` times at `min_mean_ms` or more.

    Most total time first; the thresholds default to settings PORTAL_SLOW_QUERY_MIN_CALLS
    (PgHero's 50) and PORTAL_SLOW_QUERY_MIN_MEAN_MS (20). Other roles' statements are
    left out: they are theirs to tune, and planning them would run their code as ours.
    Needs pg_stat_statements ready (see `extension_status`).
    """
    min_calls = settings.PORTAL_SLOW_QUERY_MIN_CALLS if min_calls is None else min_calls
    min_mean_ms = settings.PORTAL_SLOW_QUERY_MIN_MEAN_MS if min_mean_ms is None else min_mean_ms
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT query, calls, mean_exec_time, total_exec_time, rows
            FROM pg_stat_statements
            WHERE userid = (SELECT oid FROM pg_roles WHERE rolname = current_user)
              AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND calls >= %s AND mean_exec_time >= %s
            ORDER BY total_exec_time DESC
            LIMIT %s
            """,
            [min_calls, min_mean_ms, limit],
        )
        found = [SlowQuery(*row) for row in cursor.fetchall()]
    refused = plan_safety.reasons_not_to_plan([slow.query for slow in found if _plannable(slow.query)])
    for slow in found:
        slow.not_planned = refused.get(slow.query, "")
    return found


def suggest_indexes(queries=None, *, min_calls=None, min_mean_ms=None, limit=20, min_cost=100, rows=None):
    """Indexes that would halve the planned cost of `queries` (default: the slow queries), one per table and columns.

    A query may get one per table its plan scans. Where an INVALID index has the columns,
    the suggestion names it in `rebuild` and has no CREATE INDEX: rebuilding it gives the
    index, and a second one beside it would leave the broken one to slow every write.
    Queries the planner already prices under `min_cost` are left alone (Dexter's 100).
    Only single SELECT (or WITH) statements are considered, and none that might run code
    that is not built in (`plan_safety`). Without hypopg (or, for the default queries,
    pg_stat_statements) the answer is empty. `rows` (catalog.index_rows()) lets a caller that
    has them pass them in.
    """
    if connection.vendor != "postgresql":
        return []  # hypopg and pg_stat_statements are PostgreSQL's
    if queries is not None and not (queries := [query for query in queries if _plannable(query)]):
        return []
    ready = {status.name for status in extension_status() if status.ready}
    if HYPOPG not in ready or (queries is None and PG_STAT_STATEMENTS not in ready):
        return []
    if queries is None:
        queries = [slow.query for slow in slow_queries(min_calls, min_mean_ms, limit) if _plannable(slow.query)]
    refused = plan_safety.reasons_not_to_plan(queries)
    if not (queries := [query for query in queries if query not in refused]):
        return []
    rows = catalog.index_rows() if rows is None else rows
    columns, covered, invalid = _indexable_columns(), _covered_prefixes(rows), _invalid_by_columns(rows)
    suggestions = {}
    with connection.cursor() as cursor, _generic_plans_read_only(cursor):
        for query in queries:
            for suggestion in _suggest_for(cursor, query, columns, covered, invalid, min_cost):
                suggestions.setdefault((suggestion.table, tuple(suggestion.columns)), suggestion)
    return list(suggestions.values())


@contextmanager
def _generic_plans_read_only(cursor):
    """A read-only transaction (or savepoint) for planning, always rolled back.

    Read-only: a function the safety check missed cannot write. Rolled back: the caller's
    transaction gets its read-write mode and plan_cache_mode back, also after an error.
    """
    with transaction.atomic():
        cursor.execute("SET TRANSACTION READ ONLY")
        # The generic plan: what the planner does not knowing the $n values, as for a normalised query.
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        yield
        transaction.set_rollback(True)


def _plannable(query):
    """One SELECT or WITH statement: PREPARE can take it, and a `;` can't smuggle in a second statement."""
    return bool(re.match(r"\s*(select|with)\b", query, re.IGNORECASE)) and ";" not in query.strip().rstrip(";")


def _suggest_for(cursor, query, columns, covered, invalid, min_cost):
    """The best index of each table of one query's plan. Errors (an odd statement, a dropped table) skip the query."""
    try:
        with transaction.atomic():  # a failing statement rolls back to here, not the caller's transaction
            return _best_indexes(cursor, query.strip().rstrip(";"), columns, covered, invalid, min_cost)
    except DatabaseError:
        return []
    finally:
        cursor.execute("SELECT hypopg_reset()")


def _best_indexes(cursor, query, columns, covered, invalid, min_cost):
    plan = _plan(cursor, query)
    cost = plan["Total Cost"]
    candidates = _candidates(plan, columns, covered) if cost >= min_cost else []
    if not candidates:
        return []
    # All at once first, on every table: if the planner uses none of them, or saves less than half, we are done.
    hypothetical = _create_hypothetical(cursor, candidates)
    together = _plan(cursor, query)
    used = {hypothetical[name] for name in _index_names(together) if name in hypothetical}
    if not used or together["Total Cost"] > cost / 2:
        return []
    # Then, table by table, each index alone: the plan may have combined several.
    suggestions = []
    for table in dict.fromkeys(table for table, key in candidates if (table, key) in used):
        winners = _winning_alone(cursor, query, _worth_trying_alone(table, used, candidates), cost)
        if best := _narrowest_that_wins(winners):
            rebuild = invalid.get((table, best), "")
            suggestions.append(_suggestion(table, list(best), cost, winners[best], query, rebuild))
    return suggestions


def _candidates(plan, columns, covered):
    """(table, columns) of the one- and two-column indexes on what the plan names of each table, but covered ones."""
    candidates = []
    for table, mentioned in _mentioned_columns(plan, columns).items():
        mentioned = mentioned[:MAX_CANDIDATE_COLUMNS]
        keys = [(column,) for column in mentioned] + list(itertools.permutations(mentioned, 2))
        candidates += [(table, key) for key in keys if key not in covered.get(table, set())]
    return candidates


def _worth_trying_alone(table, used, candidates):
    """The table's candidates the plan used, and the one-column ones on their columns.

    The plan takes the cheapest of all the indexes: it passes over a one-column index for
    a two-column one that is only slightly cheaper, and the narrow one may still win alone.
    """
    columns = {column for used_table, key in used if used_table == table for column in key}
    return [
        (candidate_table, key)
        for candidate_table, key in candidates
        if candidate_table == table and ((table, key) in used or (len(key) == 1 and key[0] in columns))
    ]


def _winning_alone(cursor, query, candidates, cost):
    """{columns: planned cost} of the `candidates` (of one table) that the plan uses alone and that halve `cost`."""
    winners = {}
    for candidate in candidates:
        alone = _cost_alone(cursor, query, candidate)
        if alone is not None and alone <= cost / 2:
            _, key = candidate
            winners[key] = alone
    return winners


def _cost_alone(cursor, query, candidate):
    """The query's planned cost with `candidate` the only hypothetical index; None when the plan doesn't use it."""
    cursor.execute("SELECT hypopg_reset()")
    names = _create_hypothetical(cursor, [candidate])
    plan = _plan(cursor, query)
    return plan["Total Cost"] if names.keys() & set(_index_names(plan)) else None


def _narrowest_that_wins(costs):
    """Of {columns: planned cost} for one table's winning indexes, the narrowest, unless a wider one is much cheaper.

    One column over two: a narrower index is smaller and cheaper to keep up. The cheapest
    two-column index wins only if it cuts the cheapest one-column index's cost by at least
    half again (Dexter's bar for a multicolumn index). None when `costs` is empty.
    """
    narrow = min((key for key in costs if len(key) == 1), key=costs.get, default=None)
    wide = min((key for key in costs if len(key) == 2), key=costs.get, default=None)
    if narrow is None or (wide is not None and costs[wide] <= costs[narrow] / 2):
        return wide
    return narrow


def _plan(cursor, query):
    """The generic plan of `query`, prepared afresh: a prepared statement keeps its plan, blind to new indexes.

    VERBOSE: every column in the plan is then qualified by the alias of the scan it comes from.
    """
    parameters = max((int(number) for number in re.findall(r"\$(\d+)", query)), default=0)
    arguments = f"({', '.join(['NULL'] * parameters)})" if parameters else ""
    prepared = False
    try:
        with transaction.atomic():
            cursor.execute(f"PREPARE {STATEMENT_NAME} AS {query}")
            prepared = True
            cursor.execute(f"EXPLAIN (FORMAT JSON, VERBOSE) EXECUTE {STATEMENT_NAME}{arguments}")
            (result,) = cursor.fetchone()
    finally:
        if prepared:  # a prepared statement belongs to the session: rolling back doesn't remove it
            cursor.execute(f"DEALLOCATE {STATEMENT_NAME}")
    return (json.loads(result) if isinstance(result, str) else result)[0]["Plan"]


def _nodes(plan):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _index_names(plan):
    return [node["Index Name"] for node in _nodes(plan) if "Index Name" in node]


def _mentioned_columns(plan, indexable):
    """{table: its indexable columns the plan's conditions name, then its sort keys, in order of appearance}.

    A column counts for its table wherever the plan names it: in its scan's conditions and
    in the joins' (a hash, merge or join condition, an inner index scan's). The alias
    qualifying it (unique in the plan) says which scan, so which table: a table scanned
    under two aliases is one table.
    """
    nodes = list(_nodes(plan))
    tables = {node["Alias"]: node["Relation Name"] for node in nodes if "Relation Name" in node}
    texts = [node[key] for node in nodes for key in PLAN_CONDITIONS if key in node]
    texts += [key for node in nodes for name in PLAN_SORT_KEYS for key in node.get(name, [])]
    mentioned = {}
    for text in texts:
        for alias, column in _qualified_columns(text):
            table = tables.get(alias)
            if column in indexable.get(table, ()):
                mentioned.setdefault(table, {})[column] = True
    return {table: list(columns) for table, columns in mentioned.items()}


def _qualified_columns(text):
    """(alias, column) for each alias.column in an expression of the plan: not a literal's text, nor a function."""
    for token in PLAN_TOKEN.findall(text):
        names = re.findall(IDENTIFIER, token)
        if not token.startswith("'") and not token.endswith("(") and len(names) == 2:
            yield _unquoted(names[0]), _unquoted(names[1])


def _unquoted(identifier):
    return identifier[1:-1].replace('""', '"') if identifier.startswith('"') else identifier


def _create_hypothetical(cursor, candidates):
    """Create hypothetical btree indexes on (table, columns); {hypopg's index name: (table, columns)}."""
    quote = connection.ops.quote_name
    statements = [
        f"CREATE INDEX ON {quote(table)} USING btree ({', '.join(map(quote, columns))})"
        for table, columns in candidates
    ]
    cursor.execute(
        """
        SELECT h.indexname FROM unnest(%s::text[]) WITH ORDINALITY AS s(statement, n),
        LATERAL hypopg_create_index(s.statement) AS h ORDER BY s.n
        """,
        [statements],
    )
    return {name: candidate for (name,), candidate in zip(cursor.fetchall(), candidates, strict=True)}


def _indexable_columns():
    """{table: columns a btree can index}, json/jsonb/point left out as Dexter does."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, a.attname
            FROM pg_attribute a
            JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(current_schemas(false))
              AND a.attnum > 0 AND NOT a.attisdropped
              AND a.atttypid NOT IN ('json'::regtype, 'jsonb'::regtype, 'point'::regtype)
              AND EXISTS (
                  SELECT 1 FROM pg_opclass o JOIN pg_am m ON m.oid = o.opcmethod
                  WHERE m.amname = 'btree' AND o.opcdefault AND (
                      o.opcintype = a.atttypid
                      OR EXISTS (SELECT 1 FROM pg_cast k
                                 WHERE k.castsource = a.atttypid AND k.casttarget = o.opcintype AND k.castmethod = 'b')
                  )
              )
            """
        )
        columns = {}
        for table, column in cursor.fetchall():
            columns.setdefault(table, set()).add(column)
    return columns


def _covered_prefixes(rows):
    """{table: first column and first two columns of each valid, non-partial btree index}: Dexter skips those.

    The search path's tables only: the queries name tables as the application resolves them.
    """
    covered = {}
    for row in rows:
        if row.visible and row.method == "btree" and row.valid and row.predicate is None:
            covered.setdefault(row.table, set()).update({tuple(row.columns[:1]), tuple(row.columns[:2])})
    return covered


def _invalid_by_columns(rows):
    """{(table, key columns): key} of the INVALID plain btree indexes: a suggestion on those columns rebuilds one."""
    invalid = {}
    for row in catalog.invalid_indexes(rows):
        if row.visible and row.method == "btree" and row.predicate is None and row.expressions is None:
            invalid.setdefault((row.table, tuple(row.columns)), row.key)
    return invalid


def _suggestion(table, columns, cost_before, cost_after, query, rebuild):
    quote = connection.ops.quote_name
    name = connection.schema_editor()._create_index_name(table, columns, suffix="_idx")
    create_sql = "" if rebuild else f"CREATE INDEX {quote(name)} ON {quote(table)} ({', '.join(map(quote, columns))})"
    return Suggestion(table, columns, name, create_sql, cost_before, cost_after, query, rebuild)
