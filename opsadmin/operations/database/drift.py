"""Drift: the indexes the models declare against the indexes the database has (PostgreSQL and SQLite).

Declared means what `migrate` would create for every managed model of the installed apps:
Meta.indexes, unique constraints and unique_together, and the indexes Django makes for
fields (primary keys, unique fields, db_index and foreign keys, and on PostgreSQL the
`_like` pattern-ops twin of an indexed varchar/text column). Rather than re-deriving
Django's naming rules, we ask the schema editor for the statements it would run, so the
names are exactly the ones migrations create.

Most declared indexes are found by name. A few are named by the database, not by Django:
a PRIMARY KEY or UNIQUE written inside CREATE TABLE (and, on SQLite, every plain unique
constraint, which becomes `sqlite_autoindex_<table>_<n>`). Those are `implicit` and are
matched by table, columns and uniqueness instead; their `name` is PostgreSQL's default.

A declared index found by name is also compared with what the database has (`index_shape`):
one edited by hand, or whose declaration changed without a migration, is "changed" (present
with another definition) and `optimize_database` rebuilds it from the declaration.
"""

from dataclasses import dataclass

from django.apps import apps
from django.db import connection, models
from django.db.backends.utils import strip_quotes

from opsadmin.operations.database import catalog
from opsadmin.operations.database.catalog import IndexRow
from opsadmin.operations.database.index_shape import index_shape

PRIMARY_KEY = "primary key"
UNIQUE_FIELD = "unique field"
FIELD_INDEX = "field index"  # db_index=True, and foreign keys
LIKE_INDEX = "like index"  # PostgreSQL: varchar_pattern_ops / text_pattern_ops twin for LIKE 'abc%'
UNIQUE_TOGETHER = "unique together"
INDEX = "index"  # Meta.indexes
CONSTRAINT = "constraint"  # Meta.constraints: UniqueConstraint

POSTGRES_MAX_NAME_LENGTH = 63


@dataclass
class DeclaredIndex:
    name: str
    table: str
    model: str  # app_label.ModelName
    kind: str  # one of the constants above
    create_sql: str  # what Django runs to add it to an existing table (not CONCURRENTLY)
    columns: list[str]  # empty for an expression index
    unique: bool
    implicit: bool  # named by the database: matched by table, columns and uniqueness

    @property
    def index(self):
        """The models.Index or models.UniqueConstraint that declares it; None for field indexes."""
        meta = apps.get_model(self.model)._meta
        declarations = {INDEX: meta.indexes, CONSTRAINT: meta.constraints}.get(self.kind, [])
        return next((declaration for declaration in declarations if declaration.name == self.name), None)


@dataclass
class ChangedIndex:
    """A declared index present under its name with another definition: the declaration and what is there."""

    declared: DeclaredIndex
    present: IndexRow

    @property
    def name(self):
        return self.declared.name

    @property
    def table(self):
        return self.declared.table


@dataclass
class IndexDrift:
    missing: list[DeclaredIndex]  # declared, not in the database
    invalid: list[DeclaredIndex]  # in the database but INVALID (a failed concurrent build)
    building: list[DeclaredIndex]  # being built concurrently right now
    undeclared: list[IndexRow]  # on the models' tables, declared by no model
    changed: list[ChangedIndex]  # present under the declared name, with another definition

    @property
    def ok(self):
        return not (self.missing or self.invalid or self.changed)


def declared_indexes():
    """Every index the managed models of the installed apps declare, as `migrate` creates them here."""
    # Not entered as a context manager: we only build statements, never run them.
    editor = connection.schema_editor(collect_sql=True)
    declared = []
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        if meta.managed and not meta.proxy and not meta.swapped:
            declared.extend(_model_indexes(model, editor))
    return declared


def index_drift(rows=None, declared=None):
    """Declared against present, on the models' tables: one catalog query, none when `rows` is given.

    `rows` (catalog.index_rows()) and `declared` (declared_indexes()) let a caller that
    already has them pass them in.
    """
    declared = declared_indexes() if declared is None else declared
    tables = {index.table for index in declared}
    if rows is None:
        rows = catalog.index_rows(sorted(tables))
    present = {row.name: row for row in rows if row.table in tables and row.visible}  # where migrate builds
    found = {}  # declared index -> its row
    for index in declared:
        row = present.get(index.name)
        if row is not None and row.table == index.table:
            found[id(index)] = present.pop(index.name)
    for index in declared:
        if index.implicit and id(index) not in found and (row := _same_shape(index, present.values())):
            found[id(index)] = present.pop(row.name)
    missing, invalid, building, changed = [], [], [], []
    for index in declared:
        row = found.get(id(index))
        if row is None:
            missing.append(index)
        elif not row.valid:
            (building if row.building else invalid).append(index)
        elif row.name == index.name and _defined_otherwise(index, row):
            changed.append(ChangedIndex(index, row))
    undeclared = sorted(present.values(), key=lambda row: (row.table, row.name))
    return IndexDrift(missing, invalid, building, undeclared, changed)


def missing_declared_indexes():
    """Declared indexes absent from the database (present but INVALID ones are `index_drift().invalid`)."""
    return index_drift().missing


def _defined_otherwise(index, row):
    """Whether the database's index differs from the declaration (False when either statement can't be read)."""
    declared, present = index_shape(index.create_sql), index_shape(row.definition)
    return declared is not None and present is not None and declared != present


def _same_shape(index, rows):
    """The row of an unnamed PRIMARY KEY / UNIQUE index on the same table and columns, if any."""
    primary = index.kind == PRIMARY_KEY
    for row in rows:
        if (
            (row.table, row.columns, row.unique, row.primary) == (index.table, index.columns, index.unique, primary)
            and row.predicate is None
            and row.expressions is None
        ):
            return row
    return None


def _model_indexes(model, editor):
    """The declared indexes of one model, in the order `migrate` creates them."""
    meta, table = model._meta, model._meta.db_table
    sqlite = connection.vendor == "sqlite"

    def declared(name, kind, statement, columns, unique=False, implicit=False):
        return DeclaredIndex(name, table, meta.label, kind, str(statement), list(columns), unique, implicit)

    pk = meta.pk
    # SQLite keeps an INTEGER PRIMARY KEY in the rowid itself: there is no index to find.
    if not (sqlite and pk.db_type(connection).lower() == "integer"):
        statement = editor._create_primary_key_sql(model, pk)
        yield declared(_postgres_default_name(table, None, "pkey"), PRIMARY_KEY, statement, [pk.column], True, True)
    for field in meta.local_fields:
        if field.unique and not field.primary_key:
            statement = editor._create_unique_sql(model, [field])
            name = _postgres_default_name(table, field.column, "key")
            yield declared(name, UNIQUE_FIELD, statement, [field.column], True, True)
        for statement in editor._field_indexes_sql(model, field):
            kind = LIKE_INDEX if statement.parts["name"].suffix == "_like" else FIELD_INDEX
            yield declared(strip_quotes(str(statement.parts["name"])), kind, statement, [field.column])
    for field_names in meta.unique_together:
        fields = [meta.get_field(name) for name in field_names]
        statement = editor._create_unique_sql(model, fields)
        if statement is not None:
            name = strip_quotes(str(statement.parts["name"]))
            yield declared(name, UNIQUE_TOGETHER, statement, [field.column for field in fields], True)
    for index in meta.indexes:
        if not index.contains_expressions or connection.features.supports_expression_indexes:
            columns = [meta.get_field(name.lstrip("-")).column for name in index.fields]
            yield declared(index.name, INDEX, index.create_sql(model, editor), columns)
    for constraint in meta.constraints:
        if isinstance(constraint, models.UniqueConstraint):
            statement = constraint.create_sql(model, editor)
            if statement is None:  # a feature this database lacks (Django skips it too)
                continue
            # SQLite turns a plain unique constraint into part of CREATE TABLE and names its index itself.
            inline = sqlite and statement.template == editor.sql_create_unique
            columns = [meta.get_field(name).column for name in constraint.fields]
            yield declared(constraint.name, CONSTRAINT, statement, columns, True, inline)


def _postgres_default_name(table, column, label):
    """The name PostgreSQL gives an unnamed constraint (makeObjectName): shorten the longer part to fit 63."""
    available = POSTGRES_MAX_NAME_LENGTH - len(label) - 1 - (1 if column else 0)
    table_part, column_part = table, column or ""
    while len(table_part) + len(column_part) > available:
        if len(table_part) > len(column_part):
            table_part = table_part[:-1]
        else:
            column_part = column_part[:-1]
    return "_".join(part for part in (table_part, column_part, label) if part)
