"""Each process's RSS over the last PORTAL_MEMORY_HISTORY_SECONDS: a sample appended at every beat,
older ones pruned by the beats themselves, at most once a minute per process and a bounded batch at a time."""

import os
import time
from datetime import timedelta

from django.conf import settings

from opsadmin.models import MemorySample

PRUNE_EVERY_SECONDS = 60
PRUNE_BATCH = 5000  # rows one prune deletes at most: a minute of a large fleet's beats

_clock = time.monotonic  # tests replace it
_pruned_at = float("-inf")  # when this process last pruned


def record(instance_id, at, rss):
    """Append this process's sample; prune now and then."""
    global _pruned_at
    MemorySample.objects.create(instance_id=instance_id, pid=os.getpid(), at=at, rss_bytes=rss)
    if _clock() - _pruned_at >= PRUNE_EVERY_SECONDS:
        _pruned_at = _clock()
        prune(at - timedelta(seconds=float(settings.PORTAL_MEMORY_HISTORY_SECONDS)))


def prune(before):
    """Delete up to PRUNE_BATCH samples taken before `before`; returns how many."""
    old = MemorySample.objects.filter(at__lt=before).order_by("at").values("pk")[:PRUNE_BATCH]
    deleted, _ = MemorySample.objects.filter(pk__in=old).delete()  # one DELETE ... WHERE id IN (SELECT ... LIMIT)
    return deleted


def reset():
    """Prune at the next beat, as a new process does (after fork, and in tests)."""
    global _pruned_at
    _pruned_at = float("-inf")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=reset)
