"""The database writes: their forms, where they run, and what a person confirms first.

Each form checks names against the catalog (the list of what this write accepts) and takes
them as a JSON list, repeated form values, or one comma-separated string, so every door
gets the same clear error for a bad name. The functions are `maintenance`'s own, which
checks the names again against the catalog as it is when the work starts.
"""

from django import forms

from opsadmin.operations.database import catalog, maintenance
from opsadmin.spine import humanize
from opsadmin.spine.arguments import ChoiceListField, ConfirmationField, split_list
from opsadmin.spine.capability import Confirmation, Write
from opsadmin.spine.catalog_locks import CatalogLocked, bounded_catalog_reads
from opsadmin.spine.targets import HERE, TASK_WORKER

PERMISSION = "run_index_optimization"


def _names(source):
    return lambda: [(name, name) for name in source()]


def index_label(row):
    """What a person checks before rebuilding or dropping an index: its table, size and scans."""
    facts = [f"on {row.table}"]
    if row.size_bytes is not None:
        facts += [humanize.byte_size(row.size_bytes), humanize.plural(row.scans, "scan")]
    return f"{row.key} ({', '.join(facts)})"


def offer_selected(form, name, when_none_named, refusals=None):
    """Offer only the indexes the form names in field `name`, each with its table, size and scans.

    The names come from the form's data, or from its initial values (the selection a page
    links with), so the form shows the selected indexes, not every index of the database;
    with none named, the rows `when_none_named(rows)` picks. A bound form keeps the names it
    can't take out of its choices, so they are refused when it is cleaned; an unbound one
    (the page a link opens) leaves out unknown names and those `refusals(names)` refuses,
    and says why in the help text before anything is submitted. While a table is locked,
    the names are offered as they are, and the help text says why there is nothing more.
    """
    field = form.fields[name]
    raw = (
        field.widget.value_from_datadict(form.data, form.files, form.add_prefix(name))
        if form.is_bound
        else form.initial.get(name)
    )
    try:
        named = split_list(raw)
    except forms.ValidationError:  # the field says so when it cleans
        named = []
    try:
        rows = {row.key: row for row in bounded_catalog_reads(catalog.index_rows)()}
    except CatalogLocked as locked:
        field.help_text = f"{field.help_text} The indexes can't be listed now: {locked}."
        field.choices = [(item, item) for item in named]
        return
    chosen = [rows[item] for item in named if item in rows] if named else when_none_named(rows.values())
    if named and not form.is_bound:
        refused = refusals([row.key for row in chosen]) if refusals else {}
        left_out = {item: refused.get(item, "no such index") for item in named if item not in rows or item in refused}
        chosen = [row for row in chosen if row.key not in left_out]
        if left_out:
            reasons = "; ".join(f"{item}: {reason}" for item, reason in left_out.items())
            field.help_text = f"{field.help_text} Left out: {reasons}."
    field.choices = [(row.key, index_label(row)) for row in chosen]


class OptimizeForm(forms.Form):
    dry_run = forms.BooleanField(required=False, help_text="Print the plan and change nothing.")
    indexes = ChoiceListField(
        required=False,
        choices=_names(maintenance.repairable_index_names),
        unknown_message="Not a missing, invalid or changed index",
        help_text="Only these indexes (missing, invalid or changed ones); empty for all.",
    )


class DroppableIndexesField(ChoiceListField):
    """Index names among the choices, none that is never dropped (maintenance.drop_refusals says why)."""

    def validate(self, value):
        try:
            refused = bounded_catalog_reads(maintenance.drop_refusals)(value)
        except CatalogLocked as locked:
            raise forms.ValidationError(f"The indexes can't be checked now: {locked}.", code="locked") from None
        if refused:
            raise forms.ValidationError(
                " ".join(f"Won't drop {name}: {reason}." for name, reason in refused.items()), code="refused"
            )
        super().validate(value)


class RebuildForm(forms.Form):
    indexes = ChoiceListField(
        required=False,
        choices=_names(catalog.index_names),
        unknown_message="Unknown index",
        help_text="Rebuilt with REINDEX INDEX CONCURRENTLY (a bloated index is the usual reason); "
        "empty: every invalid index.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        offer_selected(self, "indexes", lambda rows: catalog.invalid_indexes(list(rows)))


class DropForm(forms.Form):
    indexes = DroppableIndexesField(
        choices=_names(catalog.index_names),
        unknown_message="Unknown index",
        help_text="Indexes to drop: never a primary key, a unique or a declared index.",
    )
    confirm = ConfirmationField(help_text="Type the index names again, comma-separated, to confirm.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        offer_selected(self, "indexes", _droppable, refusals=maintenance.drop_refusals)

    def clean(self):
        cleaned = super().clean()
        names = cleaned.get("indexes")
        if names and "confirm" in cleaned and not maintenance.confirmation_matches(names, cleaned["confirm"]):
            self.add_error("confirm", f"Type the index names exactly to confirm: {', '.join(names)}.")
        return cleaned


def _droppable(rows):
    rows = list(rows)
    refused = maintenance.drop_refusals([row.key for row in rows])
    return [row for row in rows if row.key not in refused]


class SuggestedForm(forms.Form):
    indexes = ChoiceListField(
        choices=_names(maintenance.suggested_index_names),
        unknown_message="Not a current index suggestion",
        help_text="Suggested indexes to build (CONCURRENTLY on PostgreSQL).",
    )


class TablesForm(forms.Form):
    tables = ChoiceListField(
        required=False,
        choices=_names(catalog.table_names),
        unknown_message="Unknown table",
        help_text="Tables of the current schema; empty for all.",
    )


def confirm_drop(cleaned):
    """Dropping indexes: which, on which tables, how big; the names typed again."""
    rows = {row.key: row for row in catalog.index_rows()}
    chosen = [rows[name] for name in cleaned["indexes"] if name in rows]
    sizes = [row.size_bytes for row in chosen if row.size_bytes is not None]
    return Confirmation(
        action=f"Drop {len(chosen)} index{'es' if len(chosen) != 1 else ''}",
        items=[index_label(row) for row in chosen],
        size=humanize.byte_size(sum(sizes)) if sizes else "",
        consequence="Queries these indexes serve will read the table instead until an index is built again.",
        typed=", ".join(cleaned["indexes"]),
    )


OPTIMIZE_DATABASE = Write(
    "optimize_database",
    "Optimize database indexes",
    PERMISSION,
    OptimizeForm,
    maintenance.optimize_database,
    target=TASK_WORKER,
)
REBUILD_INDEXES = Write(
    "rebuild_indexes",
    "Rebuild indexes",
    PERMISSION,
    RebuildForm,
    maintenance.rebuild_indexes,
    target=TASK_WORKER,
)
CREATE_SUGGESTED_INDEXES = Write(
    "create_suggested_indexes",
    "Create suggested indexes",
    PERMISSION,
    SuggestedForm,
    maintenance.create_suggested_indexes,
    target=TASK_WORKER,
)
DROP_INDEXES = Write(
    "drop_indexes", "Drop indexes", PERMISSION, DropForm, maintenance.drop_indexes, target=HERE, confirm=confirm_drop
)
ANALYZE_TABLES = Write("analyze_tables", "ANALYZE tables", PERMISSION, TablesForm, maintenance.analyze_tables)
# PostgreSQL only: SQLite has no per-table VACUUM (the operation refuses it there).
VACUUM_TABLES = Write(
    "vacuum_tables", "VACUUM (ANALYZE) tables", PERMISSION, TablesForm, maintenance.vacuum_tables, target=TASK_WORKER
)
