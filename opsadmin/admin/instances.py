"""Instances in the admin: which web instances serve, drained or not, and the task workers beside them.

The change list holds what load balancers send traffic to, so drain and resume (the
instances capability's actions, added from its declaration) apply to every row; task
workers are listed above it, where no action reaches them. An instance's page shows its
processes. Read-only: deleting a drained instance's row would resume it on its next
heartbeat, unaudited.
"""

from django.contrib import admin
from django.contrib.admin.utils import unquote
from unfold.admin import ModelAdmin
from unfold.decorators import display
from unfold.views import ChangeList

from opsadmin.admin.pages import CapabilityChangelistMixin
from opsadmin.admin.readonly import ReadOnlyAdminMixin
from opsadmin.models import Instance
from opsadmin.runtime import fleet
from opsadmin.runtime.heartbeat import TASK_WORKER_PORT
from opsadmin.spine import humanize, registry


class WebInstances(ChangeList):
    """The change list's rows: instances that take traffic (a host's task workers have no port to drain)."""

    def get_queryset(self, request, exclude_parameters=None):
        return super().get_queryset(request, exclude_parameters).exclude(port=TASK_WORKER_PORT)


@admin.register(Instance)
class InstanceAdmin(CapabilityChangelistMixin, ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("id", "state", "drained", "version", "processes", "seen")
    list_before_template = "opsadmin/instances_task_workers.html"
    change_form_template = "opsadmin/instance_change_form.html"
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

    def get_changelist(self, request, **kwargs):
        return WebInstances

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("workers")

    @display(description="State", label=registry.colours())
    def state(self, instance):
        return fleet.instance_state(instance)

    @admin.display(description="Drained")
    def drained(self, instance):
        """Who took it out of the load balancer, and how long ago."""
        if instance.drain_requested_at is None:
            return "—"
        return f"by {instance.drained_by or 'someone'}, {humanize.ago(instance.drain_requested_at)}"

    @admin.display(description="Processes")
    def processes(self, instance):
        return humanize.plural(len(instance.workers.all()), "process")

    @admin.display(description="Last seen", ordering="last_seen_at")
    def seen(self, instance):
        return humanize.ago(instance.last_seen_at)

    def changelist_view(self, request, extra_context=None):
        workers = fleet.task_workers(fleet.list_instances())
        return super().changelist_view(request, {"task_workers": workers, **(extra_context or {})})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        wanted = unquote(object_id)  # the admin quotes a primary key in its URLs ("host:port")
        status = next((status for status in fleet.list_instances() if status.id == wanted), None)
        return super().change_view(request, object_id, form_url, {"status": status, **(extra_context or {})})
