"""The database writes, declared once for the admin, the JSON API and the command line.

Each form checks names against the catalog (the list of what this operation accepts) and
takes them as a JSON list, repeated form values, or one comma-separated string, so every
door gets the same clear error for a bad name. The functions only hand the cleaned data to
`maintenance`, which checks the names again against the catalog as it is when the work starts.
"""

from django import forms

from opsadmin.operations.database import catalog, maintenance
from opsadmin.operations.declaration import declare_write

PERMISSION = "run_index_optimization"


class NameListField(forms.MultipleChoiceField):
    """Names from a list of choices; unknown ones are listed together in one error.

    Accepts ["a", "b"], "a,b" and ["a,b"] (a command-line value, a JSON string).
    """

    def __init__(self, *, unknown_message, **kwargs):
        self.unknown_message = unknown_message
        super().__init__(**kwargs)

    def to_python(self, value):
        if isinstance(value, str):
            value = [value]
        if value and not isinstance(value, list | tuple):
            raise forms.ValidationError(self.error_messages["invalid_list"], code="invalid_list")
        names = (part.strip() for item in value or () for part in str(item).split(","))
        return list(dict.fromkeys(name for name in names if name))

    def validate(self, value):
        if self.required and not value:
            raise forms.ValidationError(self.error_messages["required"], code="required")
        known = {str(key) for key, _ in self.choices}  # one catalog query for all the names
        if unknown := [name for name in value if name not in known]:
            raise forms.ValidationError(f"{self.unknown_message}: {', '.join(unknown)}.", code="invalid_choice")


def _choices(names):
    return lambda: [(name, name) for name in names()]


class OptimizeForm(forms.Form):
    dry_run = forms.BooleanField(required=False, help_text="Print the plan and change nothing.")
    indexes = NameListField(
        required=False,
        choices=_choices(maintenance.repairable_index_names),
        unknown_message="Not a missing declared index or an invalid index",
        help_text="Only these indexes (missing or invalid ones); empty for all.",
    )


class RebuildForm(forms.Form):
    indexes = NameListField(
        required=False,
        choices=_choices(maintenance.invalid_index_names),
        unknown_message="Not an invalid index",
        help_text="The invalid indexes to rebuild; empty for all.",
    )


class DropForm(forms.Form):
    indexes = NameListField(
        choices=_choices(catalog.index_names), unknown_message="Unknown index", help_text="Indexes to drop."
    )
    confirm = forms.CharField(help_text="Type the index names again, comma-separated, to confirm.")

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
    indexes = NameListField(
        choices=_choices(maintenance.suggested_index_names),
        unknown_message="Not a current index suggestion",
        help_text="Suggested indexes to build (CONCURRENTLY on PostgreSQL).",
    )


class TablesForm(forms.Form):
    tables = NameListField(
        required=False,
        choices=_choices(catalog.table_names),
        unknown_message="Unknown table",
        help_text="Tables of the current schema; empty for all.",
    )


@declare_write(
    "optimize_database",
    title="Optimize database indexes",
    permission=PERMISSION,
    form_class=OptimizeForm,
    long_running=True,
)
def optimize_database(*, dry_run, indexes, actor, progress):
    """Create the missing declared indexes, rebuild the invalid ones, ANALYZE."""
    return maintenance.optimize_database(dry_run=dry_run, indexes=indexes or None, progress=progress)


@declare_write(
    "rebuild_indexes", title="Rebuild invalid indexes", permission=PERMISSION, form_class=RebuildForm, long_running=True
)
def rebuild_indexes(*, indexes, actor, progress):
    return maintenance.rebuild_invalid_indexes(indexes or None, progress=progress)


@declare_write(
    "create_suggested_indexes",
    title="Create suggested indexes",
    permission=PERMISSION,
    form_class=SuggestedForm,
    long_running=True,
)
def create_suggested_indexes(*, indexes, actor, progress):
    return maintenance.create_suggested_indexes(indexes, progress=progress)


@declare_write("drop_indexes", title="Drop indexes", permission=PERMISSION, form_class=DropForm)
def drop_indexes(*, indexes, confirm, actor, progress):
    return maintenance.drop_indexes(indexes, confirm, progress=progress)


@declare_write("analyze_tables", title="ANALYZE tables", permission=PERMISSION, form_class=TablesForm)
def analyze_tables(*, tables, actor, progress):
    return maintenance.analyze_tables(tables or None, progress=progress)


@declare_write(
    "vacuum_tables", title="VACUUM (ANALYZE) tables", permission=PERMISSION, form_class=TablesForm, long_running=True
)
def vacuum_tables(*, tables, actor, progress):
    """PostgreSQL only: SQLite has no per-table VACUUM (the operation refuses it there)."""
    return maintenance.analyze_tables(tables or None, vacuum=True, progress=progress)
