"""The audit log in the admin: every ops run, readable and filterable, never editable."""

import json

from django.contrib import admin
from django.utils.html import format_html
from unfold.admin import ModelAdmin

from opsadmin.admin.readonly import ReadOnlyAdminMixin
from opsadmin.models import OpsRun


@admin.register(OpsRun)
class OpsRunAdmin(ReadOnlyAdminMixin, ModelAdmin):
    change_form_template = "opsadmin/opsrun_change_form.html"
    list_display = ("id", "operation", "status", "door", "actor", "summary", "started_at", "finished_at")
    list_filter = ("status", "operation", "door")
    search_fields = ("actor", "operation")
    list_select_related = ("user",)
    readonly_fields = (
        "operation",
        "status",
        "door",
        "actor",
        "user",
        "pretty_arguments",
        "summary",
        "pretty_progress",
        "pretty_result",
        "error",
        "started_at",
        "finished_at",
    )
    exclude = ("arguments", "progress", "result")

    @admin.display(description="Arguments")
    def pretty_arguments(self, run):
        return _json_block(run.arguments)

    @admin.display(description="Progress")
    def pretty_progress(self, run):
        return _json_block(run.progress)

    @admin.display(description="Result")
    def pretty_result(self, run):
        return _json_block(run.result)


def _json_block(value):
    if value in (None, {}, []):
        return "—"
    return format_html('<pre class="text-xs whitespace-pre-wrap">{}</pre>', json.dumps(value, indent=2, default=str))
