"""The audit log in the admin: every ops run, readable and filterable, never editable.

The list reads like a log: newest request first, the status in its colour, times to the
second, how long each took. A run's page says first what went wrong, if anything (a
refusal, a failure, what it left behind, a queue nobody takes work from), then how it
went step by step, when, and where; the arguments and the raw result sit behind a toggle.
"""

import json

from django.contrib import admin
from django.utils.html import format_html
from unfold.admin import ModelAdmin
from unfold.decorators import display

from opsadmin.admin.pages import CapabilityChangelistMixin
from opsadmin.admin.readonly import ReadOnlyAdminMixin
from opsadmin.models import OpsRun
from opsadmin.spine import humanize, registry
from opsadmin.spine.runs import completed_fraction, stalled, title_of

SECOND = "Y-m-d H:i:s"


@admin.register(OpsRun)
class OpsRunAdmin(CapabilityChangelistMixin, ReadOnlyAdminMixin, ModelAdmin):
    change_form_template = "opsadmin/opsrun_change_form.html"
    list_display = ("run", "state", "door", "actor", "summary", "requested", "took")
    list_filter = ("status", "operation", "door", "target")
    search_fields = ("actor", "operation", "title")
    list_select_related = ("user",)
    ordering = ("-requested_at", "-id")
    readonly_fields = ("user", "pretty_arguments", "pretty_result")
    fieldsets = ((None, {"fields": ("user",)}), ("Details", {"fields": ("pretty_arguments", "pretty_result")}))

    @admin.display(description="Run", ordering="-id")
    def run(self, run):
        return title_of(run)

    @display(description="Status", label=registry.colours())
    def state(self, run):
        return run.status

    @admin.display(description="Requested", ordering="requested_at")
    def requested(self, run):
        return format_html(
            '<span class="tabular-nums whitespace-nowrap">{}</span>', run.requested_at.strftime("%Y-%m-%d %H:%M:%S")
        )

    @admin.display(description="Took")
    def took(self, run):
        return format_html('<span class="tabular-nums whitespace-nowrap">{}</span>', humanize.duration(run.duration))

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
            waited = max(0.0, (run.started_at - run.requested_at).total_seconds()) if run.started_at else None
            fraction = completed_fraction(run.progress) if run.progress and not run.finished else None
            extra = {
                "title": title_of(run),
                "run_title": title_of(run),
                "waited": waited,
                "stalled": stalled(run),
                "targets": list(run.targets.all()),
                "steps": (run.result or {}).get("steps", []) if isinstance(run.result, dict) else [],
                "percent_done": None if fraction is None else round(100 * fraction, 1),
            }
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
