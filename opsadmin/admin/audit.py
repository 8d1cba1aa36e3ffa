"""The audit log in the admin: every ops run, readable and filterable, never editable.

A run's page says first how it went (status, outcome, what it left behind), when (asked
for, started, finished, how long it waited and ran), where (the process, or each process
it was sent to with its answer); the arguments and the raw result sit behind a toggle.
"""

import json

from django.contrib import admin
from django.utils.html import format_html
from unfold.admin import ModelAdmin
from unfold.decorators import display

from opsadmin.admin.pages import CapabilityChangelistMixin
from opsadmin.admin.readonly import ReadOnlyAdminMixin
from opsadmin.models import OpsRun
from opsadmin.spine import registry


@admin.register(OpsRun)
class OpsRunAdmin(CapabilityChangelistMixin, ReadOnlyAdminMixin, ModelAdmin):
    change_form_template = "opsadmin/opsrun_change_form.html"
    list_display = ("id", "operation", "state", "door", "actor", "summary", "requested_at", "finished_at")
    list_filter = ("status", "operation", "door", "target")
    search_fields = ("actor", "operation")
    list_select_related = ("user",)
    readonly_fields = ("user", "pretty_arguments", "pretty_result")
    fieldsets = ((None, {"fields": ("user",)}), ("Details", {"fields": ("pretty_arguments", "pretty_result")}))

    @display(description="Status", label=registry.colours())
    def state(self, run):
        return run.status

    @admin.display(description="Arguments")
    def pretty_arguments(self, run):
        return _json_block(run.arguments)

    @admin.display(description="Result")
    def pretty_result(self, run):
        return _json_block(run.result)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, object_id)
        extra = {}
        if run is not None:
            waited = (run.started_at - run.requested_at).total_seconds() if run.started_at else None
            extra = {"run_title": f"Run #{run.pk}", "waited": waited, "targets": list(run.targets.all())}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})


def _json_block(value):
    """Raw JSON for whoever needs it, folded away: the page's summary says what matters."""
    if value in (None, {}, []):
        return "—"
    return format_html(
        '<details><summary class="cursor-pointer text-primary-600">Show JSON</summary>'
        '<pre class="text-xs whitespace-pre-wrap">{}</pre></details>',
        json.dumps(value, indent=2, default=str),
    )
