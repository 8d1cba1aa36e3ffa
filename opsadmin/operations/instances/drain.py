"""Draining an instance out of the load balancer, and resuming it: the write, its form, its report.

Drain state is a column of the instance row (opsadmin.runtime.drain reads it on every
probe), so it lasts across restarts until someone resumes the instance.
"""

from dataclasses import dataclass

from django import forms
from django.db import transaction
from django.utils import timezone

from opsadmin.models import Instance
from opsadmin.runtime import drain, fleet
from opsadmin.spine.arguments import ChoiceListField
from opsadmin.spine.capability import Confirmation, ModelAction, Write
from opsadmin.spine.results import Report
from opsadmin.spine.runs import OperationFailed

DRAIN, RESUME = "drain", "resume"
MAX_DRAINED_BY = Instance._meta.get_field("drained_by").max_length


class UnknownInstances(OperationFailed):
    """Some of the instance ids given don't exist; nothing was changed."""

    def __init__(self, ids):
        self.ids = list(ids)
        super().__init__(f"Unknown instance{'s' if len(self.ids) != 1 else ''}: {', '.join(self.ids)}")


@dataclass(kw_only=True)
class DrainReport(Report):
    """What a drain or resume changed: `changed` ids, and those `already` in that state."""

    action: str  # "drain" or "resume"
    changed: list[str]
    already: list[str]


class DrainForm(forms.Form):
    instances = ChoiceListField(
        choices=lambda: [(instance_id, instance_id) for instance_id in fleet.known_instance_ids()],
        unknown_message="Not a known web instance",
        help_text="Instance ids (host:port).",
    )
    action = forms.ChoiceField(choices=[(DRAIN, "Drain"), (RESUME, "Resume")], initial=DRAIN)


def drain_or_resume(*, instances, action, actor):
    """Take instances out of the load balancer (their readiness answers 503 while they keep serving), or back in.

    All or nothing: an unknown id raises UnknownInstances and changes nothing.
    """
    draining = action == DRAIN
    ids = list(dict.fromkeys(str(instance_id) for instance_id in instances))
    with transaction.atomic():
        rows = Instance.objects.select_for_update().filter(pk__in=ids)
        requested = dict(rows.values_list("pk", "drain_requested_at"))
        if unknown := [instance_id for instance_id in ids if instance_id not in requested]:
            raise UnknownInstances(unknown)
        changed = [instance_id for instance_id in ids if (requested[instance_id] is None) == draining]
        if changed:
            Instance.objects.filter(pk__in=changed).update(
                drain_requested_at=timezone.now() if draining else None,
                drained_by=actor[:MAX_DRAINED_BY] if draining else "",
            )
        transaction.on_commit(drain.invalidate_drain_cache)  # a read before the commit may cache the old state
    drain.invalidate_drain_cache()
    already = [instance_id for instance_id in ids if instance_id not in changed]
    return DrainReport(action=action, changed=changed, already=already, summary=_summary(draining, changed, already))


def _summary(draining, changed, already):
    done, state = ("Drained", "draining") if draining else ("Resumed", "serving")
    parts = [f"{done} {_id_list(changed)}"] if changed else []
    parts += [f"already {state}: {_id_list(already)}"] if already else []
    return "; ".join(parts) or "No instances given"


def _id_list(ids, shown=5):
    more = len(ids) - shown
    return ", ".join(ids[:shown]) + (f" and {more} more" if more > 0 else "")


def confirm_drain(cleaned):
    """Draining takes instances out of the load balancer: which, with how many processes. Resuming needs none."""
    if cleaned["action"] != DRAIN:
        return None
    chosen = [status for status in fleet.list_instances() if status.id in cleaned["instances"]]
    serving = [status for status in fleet.list_instances() if status.serves_traffic and status.state == fleet.SERVING]
    left = [status.id for status in serving if status.id not in cleaned["instances"]]
    return Confirmation(
        action=f"Drain {len(chosen)} instance{'s' if len(chosen) != 1 else ''}",
        items=[f"{status.id} ({status.state}, {_processes(status)}, version {status.version})" for status in chosen],
        size=f"{len(left)} instance{'s' if len(left) != 1 else ''} left serving"
        + (f": {', '.join(left)}" if left else ""),
        consequence="Their readiness answers 503 so the load balancer stops sending them traffic; they keep "
        "serving what reaches them, and stay drained across restarts until resumed.",
    )


def _processes(status):
    count = len(status.workers)
    return f"{count} process{'es' if count != 1 else ''}"


DRAIN_WRITE = Write(
    "drain", "Drain or resume instances", "drain_instance", DrainForm, drain_or_resume, confirm=confirm_drain
)


def _selected(queryset, action):
    return {"instances": list(queryset.values_list("pk", flat=True)), "action": action}


DRAIN_SELECTED = ModelAction(
    "drain", "opsadmin.Instance", "drain", "Drain selected instances", lambda queryset: _selected(queryset, DRAIN)
)
RESUME_SELECTED = ModelAction(
    "resume", "opsadmin.Instance", "drain", "Resume selected instances", lambda queryset: _selected(queryset, RESUME)
)
