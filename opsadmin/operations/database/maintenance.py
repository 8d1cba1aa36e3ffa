"""Index and table maintenance, the write side: build, rebuild and drop indexes; ANALYZE and VACUUM tables.

The operations the declared writes in `writes.py` call, and the catalog choices their forms
offer. Names from input are matched against the catalog first (exact match, the schemas on the
search path); an unknown or refused name raises before anything runs, listing every bad name,
and names reach SQL only through the database layer's quoting. Each operation runs its steps
under `runner` and returns a report from `reports`. On SQLite the same calls take the plain
path: CREATE INDEX (transactional, so no leftovers), no invalid indexes, no per-table VACUUM.
"""

import re
import time

from django.apps import apps
from django.db import connection, models

from opsadmin.operations.database import catalog, drift, suggestions
from opsadmin.operations.database.reports import (
    ANALYZE,
    CREATE,
    DONE,
    DROP,
    REBUILD,
    SKIPPED,
    VACUUM,
    IndexStep,
    TableStep,
    index_report,
    optimize_report,
    since,
    table_report,
)
from opsadmin.operations.database.runner import AlreadyRunning as AlreadyRunning  # re-exported: the operations raise
from opsadmin.operations.database.runner import (
    maintenance_session,
    qualified,
    run_index_steps,
    run_table_steps,
    unquotable,
)
from opsadmin.spine import runs
from opsadmin.spine.arguments import split_list
from opsadmin.spine.catalog_locks import bounded_catalog_reads
from opsadmin.spine.runs import OperationFailed

# What a failed REINDEX CONCURRENTLY leaves behind; PostgreSQL's advice is to drop these, not rebuild them.
_TRANSIENT_LEFTOVER = re.compile(r"_cc(new|old)\d*$")
_CREATE_INDEX = re.compile(r"^\s*CREATE\s+(UNIQUE\s+)?INDEX\s+(?!CONCURRENTLY\b)", re.IGNORECASE)


class UnknownNames(OperationFailed):
    """Names that aren't among those the catalog offers for this operation; nothing was done."""

    def __init__(self, what, names):
        super().__init__(f"{what}: {', '.join(names)}")
        self.names = list(names)


class Refused(runs.Refused):
    """The arguments ask for something unsafe (or unconfirmed); nothing was done (the run is refused)."""


# --- What the catalog offers (the forms' choices, and the checks before running) ---------------


def missing_index_names():
    """Names of the declared indexes missing in the database."""
    return [declared.name for declared in drift.missing_declared_indexes()]


def invalid_index_names():
    """Names of the INVALID indexes (failed concurrent builds; builds in progress left out). SQLite has none."""
    return [row.key for row in _invalid_indexes()]


def changed_index_names():
    """Names of the declared indexes present with another definition than their declaration."""
    return [changed.name for changed in drift.index_drift().changed]


def repairable_index_names():
    """Missing declared indexes, invalid and changed ones: what `optimize_database(indexes=...)` accepts."""
    return sorted({*missing_index_names(), *invalid_index_names(), *changed_index_names()})


def declared_index_names():
    """Every index name the models declare (drift's list: what `migrate` creates here)."""
    return {declared.name for declared in drift.declared_indexes()}


def drop_refusals(names):
    """{name: reason} for those of `names` (index keys) that are never dropped. Unknown names aren't judged here."""
    rows = {row.key: row for row in catalog.index_rows()}
    declared = declared_index_names()
    refusals = {}
    for name in names:
        row = rows.get(name)
        if row is None:
            continue
        if row.attached_to:
            refusals[name] = f"it is a partition's index attached to {row.attached_to}: that one is dropped instead"
        elif row.partitioned:
            refusals[name] = (
                "it is a partitioned index, which can't be dropped concurrently: DROP INDEX by hand, when a lock "
                "on every partition is acceptable"
            )
        elif row.primary:
            refusals[name] = "it is a primary key"
        elif row.unique:
            refusals[name] = "it is a unique index"
        elif row.constraint:
            refusals[name] = f"it backs the constraint {row.constraint}"
        elif name in declared:
            refusals[name] = "a model declares it"
    return refusals


def confirmation_matches(names, confirmation):
    """True when `confirmation` types exactly `names`: comma-separated, in any order, case-sensitive."""
    typed = [part.strip() for part in (confirmation or "").split(",") if part.strip()]
    return bool(names) and len(typed) == len(set(typed)) and set(typed) == set(names)


# --- Create the missing declared indexes ---------------------------------------------------------


@bounded_catalog_reads
def create_missing_indexes(names=None, *, dry_run=False, progress=None):
    """Build the declared indexes missing in the database (all, or only `names`), one at a time.

    PostgreSQL: CREATE INDEX CONCURRENTLY under the maintenance lock and timeouts; a failed
    build's leftover is dropped and the next index is built. `dry_run` returns the plan
    (optimize_database runs that plan with the rebuilds in one session).
    """
    started = time.monotonic()
    missing = _select(drift.missing_declared_indexes(), names, "not a missing declared index")
    steps = [_create_step(declared) for declared in missing]
    _run_index_plan(steps, dry_run, progress)
    return index_report(CREATE, dry_run, steps, started)


def _create_step(declared):
    return IndexStep(action=CREATE, name=declared.name, table=declared.table, sql=_create_statements(declared))


def _create_statements(declared):
    """The SQL that builds `declared` as `migrate` would, but CONCURRENTLY on PostgreSQL."""
    if connection.vendor != "postgresql":
        return [declared.create_sql]
    editor = connection.schema_editor(atomic=False)  # only builds statements; never entered
    index = declared.index
    if isinstance(index, models.Index):
        return [str(index.create_sql(apps.get_model(declared.model), editor, concurrently=True))]
    if _CREATE_INDEX.match(declared.create_sql):  # field indexes, partial or expression unique constraints
        return [_concurrently(declared.create_sql)]
    return _constraint_statements(declared, editor)


def _replace_step(changed):
    """Build the declared index under a temporary name beside the present one, then swap the two.

    PostgreSQL: the copy is built CONCURRENTLY; the swap (drop the present index, or the
    constraint it backs, and give the copy its name or constraint) is one statement list in
    one transaction, under a brief lock: both happen or neither, and the table is never
    without one of the two. SQLite (transactional, nothing concurrent): drop, then create.
    """
    declared, present = changed.declared, changed.present
    note = f"present with another definition ({present.definition}): built again from its declaration"
    step = IndexStep(action=REBUILD, name=declared.name, table=declared.table, note=note)
    if reason := unquotable(declared.name, declared.table, present.name):
        step.status, step.note = SKIPPED, reason
    elif connection.vendor != "postgresql":
        step.sql = [f"DROP INDEX {qualified(None, present.name)}", declared.create_sql]
    else:
        step.temporary = _temporary_name(declared.name)
        step.sql = _swap_statements(declared, present, step.temporary)
    return step


def _temporary_name(name):
    """The name the copy is built under: `<name>_swap`, the name shortened to keep within 63 characters."""
    return f"{name[: drift.POSTGRES_MAX_NAME_LENGTH - len('_swap')]}_swap"


def _swap_statements(declared, present, temporary):
    quote = connection.ops.quote_name
    name, table, copy = quote(declared.name), quote(declared.table), quote(temporary)
    build = _create_statements(declared)[0].replace(f"CONCURRENTLY {name}", f"CONCURRENTLY {copy}", 1)
    if present.constraint:
        take_out = f"ALTER TABLE {table} DROP CONSTRAINT {quote(present.constraint)}"
    else:
        take_out = f"DROP INDEX {qualified(None, present.name)}"
    if _CREATE_INDEX.match(declared.create_sql):
        put_in = f"ALTER INDEX {copy} RENAME TO {name}"
    else:  # a table constraint: the copy becomes it (and takes its name)
        put_in = _constraint_statements(declared, connection.schema_editor(atomic=False))[1].replace(
            f"USING INDEX {name}", f"USING INDEX {copy}"
        )
    return [build, f"{take_out}; {put_in}"]  # one query: PostgreSQL runs its statements as one transaction


def _concurrently(create_sql):
    """A plain CREATE [UNIQUE] INDEX statement, made to build without blocking writes."""
    return _CREATE_INDEX.sub(r"CREATE \1INDEX CONCURRENTLY ", create_sql, count=1)


def _constraint_statements(declared, editor):
    """A table constraint (ALTER TABLE ... ADD CONSTRAINT ... UNIQUE / PRIMARY KEY) without blocking writes.

    Its unique index is built concurrently first; ADD CONSTRAINT ... USING INDEX then makes
    it the constraint, under a brief lock.
    """
    constraint = declared.index
    nulls = deferrable = ""
    if isinstance(constraint, models.UniqueConstraint):
        nulls = editor._unique_index_nulls_distinct_sql(constraint.nulls_distinct)
        deferrable = editor._deferrable_constraint_sql(constraint.deferrable)
    kind = "PRIMARY KEY" if declared.kind == drift.PRIMARY_KEY else "UNIQUE"
    name, table = editor.quote_name(declared.name), editor.quote_name(declared.table)
    columns = ", ".join(editor.quote_name(column) for column in declared.columns)
    return [
        f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON {table} ({columns}){nulls}",
        f"ALTER TABLE {table} ADD CONSTRAINT {name} {kind} USING INDEX {name}{deferrable}",
    ]


def suggested_index_names():
    """The names of the indexes suggestions.suggest_indexes() proposes to create right now (PostgreSQL with hypopg)."""
    return list(_creatable_suggestions())


@bounded_catalog_reads
def create_suggested_indexes(indexes, *, dry_run=False, progress=None):
    """Build suggested indexes by name, CONCURRENTLY, as the missing declared ones are built.

    The suggestions are computed again here, so an index is only built while it still
    halves the cost of a slow query. It is not declared by a model: declare it in
    Meta.indexes if it should stay (drift lists it as undeclared until then). A suggestion
    to rebuild an INVALID index is no index to create: rebuild_indexes (or optimize_database)
    rebuilds that one.
    """
    started = time.monotonic()
    wanted = split_list(indexes)
    proposed = _creatable_suggestions()
    if unknown := [name for name in wanted if name not in proposed]:
        raise UnknownNames("not a current index suggestion", unknown)
    steps = [
        IndexStep(action=CREATE, name=name, table=proposed[name].table, sql=[_concurrently(proposed[name].create_sql)])
        for name in wanted
    ]
    _run_index_plan(steps, dry_run, progress)
    return index_report(CREATE, dry_run, steps, started)


def _creatable_suggestions():
    """{name: suggestion} of the current suggestions but those to rebuild an INVALID index instead."""
    return {suggestion.name: suggestion for suggestion in suggestions.suggest_indexes() if not suggestion.rebuild}


# --- Rebuild indexes ------------------------------------------------------------------------------


@bounded_catalog_reads
def rebuild_indexes(indexes=None, *, dry_run=False, progress=None):
    """Rebuild the named indexes, or every INVALID one when none is named.

    PostgreSQL: REINDEX INDEX CONCURRENTLY, for a bloated index (the usual reason) or a
    failed concurrent build. Any index may be rebuilt, a primary key or a unique one too:
    the new copy is built beside the old one and swapped in, so neither writes nor the
    constraint are ever without their index. The `*_ccnew` / `*_ccold` leftovers of an
    earlier failed REINDEX CONCURRENTLY are dropped instead, as PostgreSQL advises. SQLite:
    REINDEX (it has no invalid indexes, so only named ones).
    """
    started = time.monotonic()
    names = split_list(indexes)
    if names:
        rows = _select(catalog.index_rows(), names, "unknown index")
    elif connection.vendor == "postgresql":
        rows = catalog.invalid_indexes()
    else:
        return index_report(REBUILD, dry_run, [], started, nothing="SQLite has no invalid indexes: nothing to do.")
    steps = [_rebuild_step(row) for row in rows]
    _run_index_plan(steps, dry_run, progress)
    return index_report(REBUILD, dry_run, steps, started)


def _rebuild_step(row):
    if reason := unquotable(row.schema, row.name, row.table):
        return IndexStep(action=REBUILD, name=row.key, table=row.table, status=SKIPPED, note=reason)
    if row.waits_for_partitions:
        note = (
            "a partitioned index made ON ONLY, INVALID until every partition's index is attached "
            "(ALTER INDEX ... ATTACH PARTITION): a rebuild can't make it valid"
        )
        return IndexStep(action=REBUILD, name=row.key, table=row.table, status=SKIPPED, note=note)
    index = qualified(row.schema, row.name)
    if not row.valid and _TRANSIENT_LEFTOVER.search(row.name):
        note = "the leftover of a failed REINDEX CONCURRENTLY: dropped rather than rebuilt, as PostgreSQL advises"
        sql = [f"DROP INDEX CONCURRENTLY {index}"]
        return IndexStep(action=DROP, name=row.key, table=row.table, sql=sql, schema=row.schema, note=note)
    reindex = "REINDEX INDEX CONCURRENTLY" if connection.vendor == "postgresql" else "REINDEX"
    sql = [f"{reindex} {index}"]
    return IndexStep(action=REBUILD, name=row.key, table=row.table, sql=sql, schema=row.schema)


# --- Drop selected indexes -------------------------------------------------------------------------


@bounded_catalog_reads
def drop_indexes(indexes, confirm, *, dry_run=False, progress=None):
    """Drop `indexes`, only when `confirm` types the same names.

    Refused before anything runs: unknown names, primary keys, unique or constraint-backed
    indexes, and indexes a model declares. PostgreSQL: DROP INDEX CONCURRENTLY.
    """
    started = time.monotonic()
    names = split_list(indexes)
    if not names:
        raise Refused("name at least one index to drop")
    rows = _select(catalog.index_rows(), names, "unknown index")
    if refusals := drop_refusals(names):
        raise Refused("won't drop " + "; ".join(f"{name}: {reason}" for name, reason in refusals.items()))
    if not confirmation_matches(names, confirm):
        raise Refused(f"type the index names to confirm the drop: {', '.join(names)}")
    concurrently = " CONCURRENTLY" if connection.vendor == "postgresql" else ""
    steps = [
        IndexStep(action=DROP, name=row.key, table=row.table, status=SKIPPED, note=reason)
        if (reason := unquotable(row.schema, row.name, row.table))
        else IndexStep(
            action=DROP,
            name=row.key,
            table=row.table,
            sql=[f"DROP INDEX{concurrently} {qualified(row.schema, row.name)}"],
        )
        for row in rows
    ]
    _run_index_plan(steps, dry_run, progress)
    return index_report(DROP, dry_run, steps, started)


# --- ANALYZE and VACUUM ----------------------------------------------------------------------------


@bounded_catalog_reads
def analyze_tables(tables=None, *, vacuum=False, dry_run=False, progress=None):
    """ANALYZE (or VACUUM (ANALYZE)) the selected tables, or every table (`catalog.tables`).

    SQLite: ANALYZE each table, then PRAGMA optimize. Its VACUUM rewrites the whole
    database file and has no per-table form, so `vacuum=True` fails there.
    """
    started = time.monotonic()
    postgres = connection.vendor == "postgresql"
    if vacuum and not postgres:
        raise OperationFailed(
            "VACUUM of single tables is not available on SQLite (its VACUUM rewrites the whole database file); "
            "run ANALYZE instead"
        )
    steps = _table_steps(_selected_tables(tables), vacuum=vacuum)
    notes = [] if postgres else ["SQLite: ANALYZE of each table, then PRAGMA optimize; no per-table VACUUM."]
    if not dry_run and steps:
        with maintenance_session(builds=False) as session:
            run_table_steps(session, steps, progress)
    return table_report(vacuum, dry_run, steps, started, notes)


def vacuum_tables(tables=None, *, dry_run=False, progress=None):
    """VACUUM (ANALYZE) the selected tables, or every table (PostgreSQL only)."""
    return analyze_tables(tables, vacuum=True, dry_run=dry_run, progress=progress)


def _selected_tables(names):
    """The catalog's tables named by `names` (keys: `schema.name` off the search path), or all of them."""
    return _select(catalog.tables(), names, "unknown table")


def _table_steps(tables, *, vacuum):
    """One statement per table, or a skipped step saying why (`unquotable`): the others still run.

    A table on the search path is named as migrate names it; another schema's, qualified.
    """
    verb = VACUUM if vacuum else ANALYZE
    steps = []
    for table in tables:
        schema = None if table.visible else table.schema
        if reason := unquotable(schema, table.name):
            steps.append(TableStep(action=verb, name=table.key, status=SKIPPED, note=reason))
        else:
            steps.append(TableStep(action=verb, name=table.key, sql=[f"{verb} {qualified(schema, table.name)}"]))
    return steps


# --- The default maintenance -----------------------------------------------------------------------


@bounded_catalog_reads
def optimize_database(*, dry_run=False, indexes=None, progress=None):
    """Create the missing declared indexes, rebuild the invalid and changed ones, then ANALYZE: one session, one lock.

    `indexes` limits the index steps to those names (each must be missing, invalid or changed)
    and the ANALYZE to the tables they touched; without it, every missing, invalid and changed
    index is handled and every table analyzed. A changed index (present with another definition)
    is built again from its declaration beside the present one, then swapped in. The report's
    problems are what is still missing, invalid or changed.
    """
    started = time.monotonic()
    names = split_list(indexes)
    missing, invalid, changed = missing_index_names(), invalid_index_names(), drift.index_drift().changed
    if unknown := [name for name in names if name not in {*missing, *invalid, *(index.name for index in changed)}]:
        raise UnknownNames("not a missing, invalid or changed index", unknown)
    chosen_missing = [name for name in missing if name in names] if names else missing
    chosen_invalid = [name for name in invalid if name in names] if names else invalid
    chosen_changed = [index for index in changed if index.name in names] if names else changed
    # The plans of the operations, run here as one list in one session: one lock, one count of steps.
    index_steps = [
        *(create_missing_indexes(chosen_missing, dry_run=True).steps if chosen_missing else []),
        *(rebuild_indexes(chosen_invalid, dry_run=True).steps if chosen_invalid else []),
        *(_replace_step(index) for index in chosen_changed),
    ]
    timings = {}
    if dry_run:
        table_steps = _table_steps(_tables_to_analyze(index_steps, names, planned=True), vacuum=False)
    else:
        with maintenance_session(builds=True) as session:
            phase_started = time.monotonic()
            run_index_steps(session, index_steps, progress)
            timings["indexes"] = since(phase_started)
            table_steps = _table_steps(_tables_to_analyze(index_steps, names, planned=False), vacuum=False)
            phase_started = time.monotonic()
            run_table_steps(session, table_steps, progress)
            timings["analyze"] = since(phase_started)
    timings["total"] = since(started)
    remaining = missing_index_names(), invalid_index_names(), changed_index_names()
    return optimize_report(dry_run, index_steps, table_steps, *remaining, timings)


def _tables_to_analyze(index_steps, names, *, planned):
    """All tables for the default run; with chosen indexes, the tables they (would) have touched."""
    if not names:
        return catalog.tables()
    touched = [step for step in index_steps if planned or step.status == DONE]
    return [table for table in catalog.tables() if any(_is_on(step, table) for step in touched)]


def _is_on(step, table):
    """Whether an index step works on `table`: by schema when both know theirs, else the search path's table."""
    if step.table != table.name:
        return False
    return step.schema == table.schema if step.schema and table.schema else table.visible


# --- Helpers ------------------------------------------------------------------------------------


def _run_index_plan(steps, dry_run, progress):
    """Run `steps` in a maintenance session of their own; nothing for a dry run or no steps."""
    if dry_run or not steps:
        return
    with maintenance_session(builds=True) as session:
        run_index_steps(session, steps, progress)


def _invalid_indexes():
    return catalog.invalid_indexes() if connection.vendor == "postgresql" else []


def _select(rows, names, unknown_message):
    """`rows` (anything with `.name`; index rows by `.key`), or only those named, in the order named; unknown raise."""
    if not names:
        return list(rows)
    names = split_list(names)
    by_name = {}
    for row in rows:
        by_name.setdefault(getattr(row, "key", row.name), row)  # the first: the search path's schemas come first
    if unknown := [name for name in names if name not in by_name]:
        raise UnknownNames(unknown_message, unknown)
    return [by_name[name] for name in names]
