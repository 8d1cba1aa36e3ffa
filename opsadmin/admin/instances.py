"""Instances in the admin: which processes serve where, and in which state.

Read-only: deleting a drained instance's row would resume it on its next heartbeat,
unaudited. Drain and resume are the instances capability's actions, added to this
change list from its declaration.
"""

from django.contrib import admin
from unfold.admin import ModelAdmin
from unfold.decorators import display

from opsadmin.admin.pages import CapabilityChangelistMixin
from opsadmin.admin.readonly import ReadOnlyAdminMixin
from opsadmin.models import Instance
from opsadmin.runtime.fleet import instance_state
from opsadmin.spine import registry


@admin.register(Instance)
class InstanceAdmin(CapabilityChangelistMixin, ReadOnlyAdminMixin, ModelAdmin):
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
    actions = []  # the declared ones are added (opsadmin.admin.actions)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("workers")

    @display(description="State", label=registry.colours())
    def state(self, instance):
        return instance_state(instance)

    @admin.display(description="Processes")
    def worker_count(self, instance):
        return len(instance.workers.all())
