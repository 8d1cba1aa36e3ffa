"""Instances in the admin: which processes serve, and the Drain / Resume actions."""

from django.contrib import admin
from unfold.admin import ModelAdmin
from unfold.decorators import action, display

from opsadmin.admin.dashboard import STATUS_VARIANTS
from opsadmin.admin.operation_page import submit_from_admin
from opsadmin.admin.readonly import ReadOnlyAdminMixin
from opsadmin.models import Instance
from opsadmin.operations.declaration import get_write
from opsadmin.operations.instances import DRAIN, RESUME
from opsadmin.runtime.instances import instance_state


@admin.register(Instance)
class InstanceAdmin(ReadOnlyAdminMixin, ModelAdmin):
    """Read-only: deleting a drained instance's row would resume it on its next heartbeat, unaudited."""

    list_display = ("id", "state", "version", "worker_count", "started_at", "last_seen_at", "drained_by")
    readonly_fields = (
        "id",
        "host",
        "port",
        "version",
        "started_at",
        "last_seen_at",
        "drain_requested_at",
        "drained_by",
    )
    actions = ["drain", "resume"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("workers")

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("opsadmin.view_ops")

    def has_drain_instance_permission(self, request):
        return request.user.has_perm(get_write("drain").permission_name)

    @display(description="State", label=STATUS_VARIANTS)
    def state(self, instance):
        return instance_state(instance)

    @admin.display(description="Workers")
    def worker_count(self, instance):
        return len(instance.workers.all())

    @action(description="Drain selected instances", permissions=["drain_instance"])
    def drain(self, request, queryset):
        self._run_drain(request, queryset, DRAIN)

    @action(description="Resume selected instances", permissions=["drain_instance"])
    def resume(self, request, queryset):
        self._run_drain(request, queryset, RESUME)

    def _run_drain(self, request, queryset, what):
        submit_from_admin(
            self, request, "drain", {"instances": list(queryset.values_list("pk", flat=True)), "action": what}
        )
