"""The database writes: their forms, where they run, and what a person confirms first.

Each form checks names against the catalog (the list of what this write accepts) and takes
them as a JSON list, repeated form values, or one comma-separated string, so every door
gets the same clear error for a bad name. The functions are `maintenance`'s own, which
checks the names again against the catalog as it is when the work starts.
"""

from django import forms
from django.template.defaultfilters import filesizeformat

from opsadmin.operations.database import catalog, maintenance
from opsadmin.spine.arguments import ChoiceListField, ConfirmationField
from opsadmin.spine.capability import Confirmation, Write
from opsadmin.spine.targets import HERE, TASK_WORKER

PERMISSION = "run_index_optimization"


def _names(source):
    return lambda: [(name, name) for name in source()]


class OptimizeForm(forms.Form):
    dry_run = forms.BooleanField(required=False, help_text="Print the plan and change nothing.")
    indexes = ChoiceListField(
        required=False,
        choices=_names(maintenance.repairable_index_names),
        unknown_message="Not a missing declared index or an invalid index",
        help_text="Only these indexes (missing or invalid ones); empty for all.",
    )


class RebuildForm(forms.Form):
    indexes = ChoiceListField(
        required=False,
        choices=_names(maintenance.invalid_index_names),
        unknown_message="Not an invalid index",
        help_text="The invalid indexes to rebuild; empty for all.",
    )


class DropForm(forms.Form):
    indexes = ChoiceListField(
        choices=_names(catalog.index_names), unknown_message="Unknown index", help_text="Indexes to drop."
    )
    confirm = ConfirmationField(help_text="Type the index names again, comma-separated, to confirm.")

    def clean(self):
        cleaned = super().clean()
        names = cleaned.get("indexes")
        if not names:
            return cleaned
        if refusals := maintenance.drop_refusals(names):
            self.add_error("indexes", "; ".join(f"Won't drop {name}: {reason}." for name, reason in refusals.items()))
        elif "confirm" in cleaned and not maintenance.confirmation_matches(names, cleaned["confirm"]):
            self.add_error("confirm", f"Type the index names exactly to confirm: {', '.join(names)}.")
        return cleaned


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
    rows = {row.name: row for row in catalog.index_rows()}
    chosen = [rows[name] for name in cleaned["indexes"] if name in rows]
    sizes = [row.size_bytes for row in chosen if row.size_bytes is not None]
    return Confirmation(
        action=f"Drop {len(chosen)} index{'es' if len(chosen) != 1 else ''}",
        items=[
            f"{row.name} on {row.table}"
            + (f" ({filesizeformat(row.size_bytes)})" if row.size_bytes is not None else "")
            for row in chosen
        ],
        size=filesizeformat(sum(sizes)) if sizes else "",
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
    "Rebuild invalid indexes",
    PERMISSION,
    RebuildForm,
    maintenance.rebuild_invalid_indexes,
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
