"""The memory writes: collect garbage in the selected workers, recycle them, or take one's allocation snapshot.

Each runs in the worker it names, through the command channel, so each answer is that
worker's own: its memory before and after, the objects it collected, its allocation sites.
"""

from dataclasses import dataclass
from datetime import timedelta

import psutil
from django import forms
from django.utils import timezone

from opsadmin.models import InstanceWorker
from opsadmin.operations.memory import collecting, snapshot
from opsadmin.runtime import fleet, identity
from opsadmin.runtime.heartbeat import WEB
from opsadmin.spine import channel, humanize
from opsadmin.spine.arguments import ChoiceListField
from opsadmin.spine.capability import Confirmation, Write
from opsadmin.spine.results import DONE, Report, Step
from opsadmin.spine.runs import OperationFailed, Refused
from opsadmin.spine.targets import CHOSEN_PROCESSES, ONE_PROCESS

PERMISSION = "manage_memory"


def live_processes(kinds=(WEB, InstanceWorker.Kind.TASK)):
    """ "web-1:8000 pid 42" of every live worker of these kinds, by instance and pid."""
    since = timezone.now() - timedelta(seconds=fleet.gone_seconds())
    rows = InstanceWorker.objects.filter(kind__in=kinds, last_seen_at__gte=since).order_by("instance_id", "pid")
    return [f"{instance} pid {pid}" for instance, pid in rows.values_list("instance_id", "pid")]


class CollectForm(forms.Form):
    processes = ChoiceListField(
        choices=lambda: [(label, label) for label in live_processes()],
        unknown_message="Not a live worker",
        help_text='Workers as the Memory page names them: "web-1:8000 pid 42".',
    )


class RecycleForm(forms.Form):
    processes = ChoiceListField(
        choices=lambda: [(label, label) for label in live_processes(kinds=(WEB,))],
        unknown_message="Not a live web worker",
        help_text="Web workers; never every worker of one instance at once.",
    )

    def clean(self):
        """Refuse leaving an instance without a worker: each keeps at least one serving while the others restart."""
        chosen = set(self.cleaned_data.get("processes") or [])
        by_instance = {}
        for label in live_processes(kinds=(WEB,)):
            by_instance.setdefault(identity.parse_process_label(label)[0], set()).add(label)
        if whole := sorted(instance for instance, labels in by_instance.items() if labels <= chosen):
            raise forms.ValidationError(
                f"That is every web worker of {', '.join(whole)}: it would have none serving. "
                "Recycle them one at a time (a rolling recycle), each after the last one's replacement beats."
            )
        return self.cleaned_data


class SnapshotForm(forms.Form):
    instance = forms.CharField(help_text="The worker's instance (host:port).")
    pid = forms.IntegerField(min_value=1)
    seconds = forms.IntegerField(min_value=1, max_value=snapshot.MAX_SECONDS, initial=3, help_text="How long to trace.")
    top = forms.IntegerField(min_value=1, max_value=snapshot.MAX_SITES, initial=15, help_text="How many sites to list.")

    def clean(self):
        instance, pid = self.cleaned_data.get("instance"), self.cleaned_data.get("pid")
        if instance and pid and f"{instance} pid {pid}" not in live_processes():
            raise forms.ValidationError(f"{instance} pid {pid} is not a live worker.")
        return self.cleaned_data


@dataclass(kw_only=True)
class CollectReport(Report):
    """One worker's collection, as it answered."""

    process: str
    collection: collecting.Collection


@dataclass(kw_only=True)
class RecycleReport(Report):
    process: str
    rss_bytes: int


@dataclass(kw_only=True)
class SnapshotReport(Report):
    process: str
    snapshot: snapshot.Snapshot  # its sites are the report's steps too, for the run's page


def collect_garbage(*, processes):
    """In each chosen worker (the channel delivers it to each): a full collection, memory before and after."""
    done = collecting.collect()
    summary = (
        f"collected {humanize.plural(done.collected, 'object')}; RSS {humanize.byte_size(done.rss_before_bytes)} -> "
        f"{humanize.byte_size(done.rss_after_bytes)}"
    )
    return CollectReport(summary=summary, process=identity.process_label(), collection=done)


def recycle(*, processes):
    """In each chosen worker: answer with its memory, then stop gracefully so gunicorn starts a fresh one."""
    if not identity.gunicorn_worker():
        raise Refused("not a gunicorn worker: nothing would start a fresh process in its place")
    from opsadmin.runtime.recycle import exit_gracefully  # POSIX serving: a gunicorn worker's alone

    rss = psutil.Process().memory_info().rss
    channel.after_answering(exit_gracefully)
    summary = f"recycling at {humanize.byte_size(rss)} RSS: finishing its requests, then exiting"
    return RecycleReport(summary=summary, process=identity.process_label(), rss_bytes=rss)


def allocation_snapshot(*, instance, pid, seconds, top):
    """In the named worker: trace allocations for `seconds`, then its `top` allocation sites (each a step)."""
    try:
        taken = snapshot.take(seconds, top)
    except snapshot.AlreadyTracing as already:
        raise OperationFailed(str(already)) from None
    steps = [
        Step(
            action="allocated",
            name=site.where,
            status=DONE,
            note=f"{humanize.byte_size(site.size_bytes)} in {humanize.plural(site.blocks, 'block')}",
        )
        for site in taken.sites
    ]
    top_site = f"; top: {taken.sites[0].where}" if taken.sites else ""
    summary = (
        f"{humanize.byte_size(taken.traced_bytes)} allocated in {humanize.duration(taken.seconds)} still held "
        f"(peak {humanize.byte_size(taken.peak_bytes)}){top_site}"
    )
    return SnapshotReport(summary=summary, process=identity.process_label(), snapshot=taken, steps=steps)


def confirm_recycle(cleaned):
    """Recycling ends processes: which, and what happens to the requests they serve."""
    chosen = cleaned["processes"]
    return Confirmation(
        action=f"Recycle {humanize.plural(len(chosen), 'worker')}",
        items=list(chosen),
        consequence="Each answers, finishes the requests it is serving and exits; gunicorn starts a fresh one.",
    )


COLLECT = Write("collect_garbage", "Collect garbage now", PERMISSION, CollectForm, collect_garbage, CHOSEN_PROCESSES)
RECYCLE = Write(
    "recycle_workers", "Recycle workers", PERMISSION, RecycleForm, recycle, CHOSEN_PROCESSES, confirm=confirm_recycle
)
SNAPSHOT = Write(
    "allocation_snapshot", "Allocation snapshot", PERMISSION, SnapshotForm, allocation_snapshot, ONE_PROCESS
)
