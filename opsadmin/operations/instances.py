"""Instances: list them (read), drain or resume them (write)."""

from django import forms

from opsadmin.operations.declaration import declare_write
from opsadmin.runs import OperationFailed
from opsadmin.runtime import instances as runtime

DRAIN, RESUME = "drain", "resume"


def instances_status():
    """Every known instance with its workers and state, for the API and the dashboard."""
    return [instance.to_dict() for instance in runtime.list_instances()]


class DrainForm(forms.Form):
    instances = forms.MultipleChoiceField(
        choices=lambda: [(instance_id, instance_id) for instance_id in runtime.known_instance_ids()],
        help_text="Instance ids (host:port).",
    )
    action = forms.ChoiceField(choices=[(DRAIN, "Drain"), (RESUME, "Resume")], initial=DRAIN)


@declare_write("drain", title="Drain or resume instances", permission="drain_instance", form_class=DrainForm)
def drain_instances(*, instances, action, actor, progress):
    """Take instances out of (or back into) the load balancer via their readiness answer."""
    try:
        if action == DRAIN:
            return runtime.drain(instances, actor)
        return runtime.resume(instances)
    except runtime.UnknownInstances as unknown:  # gone between validation and now
        raise OperationFailed(str(unknown)) from None
