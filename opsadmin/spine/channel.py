"""The command channel: how a run sent to processes reaches each of them and how they answer.

The channel is the RunTarget table. Every serving process, and the task worker, calls
`tick()` from its own thread (opsadmin.runtime.heartbeat.ProcessThread) about every
PORTAL_COMMAND_POLL_SECONDS, idle or not: it takes the pending targets addressed to it
(instance and pid), does the work in that thread, and answers on the row. Each tick also
sweeps, at most once per heartbeat interval, for targets past their deadline, so a
process that died or hangs leaves its run partly failed, naming it, instead of running
for ever. Work sent this way must be short: while it runs, the process does not beat.
"""

import threading
import time

from django.conf import settings
from django.db import close_old_connections

from opsadmin.models import RunTarget
from opsadmin.runtime import identity
from opsadmin.spine import registry, runs
from portal import request_context

_sweep_lock = threading.Lock()
_last_sweep = [float("-inf")]
_delivering = threading.local()  # .afterwards: what the work being delivered asked to do once it has answered


def tick():
    """One round of this process's thread: answer what was sent to it, then sweep if it is time."""
    close_old_connections()  # the thread's own connection: kept while it works, replaced on the tick after it broke
    if (process := identity.this_process()) is not None:
        deliver(*process)
    if _sweep_due():
        runs.give_up_on_overdue()


def deliver(instance, pid):
    """Do, in this thread, every pending target addressed to (instance, pid); returns how many were done."""
    done = 0
    pending = RunTarget.objects.filter(instance=instance, pid=pid, status=RunTarget.Status.PENDING)
    for target in pending.select_related("run").order_by("pk"):
        if not runs.take(target):  # past its deadline (the run no longer waits for it), or swept meanwhile
            continue
        runs.claim(target.run, ran_on="")  # the first target to start makes the run running; its targets say where
        _delivering.afterwards = afterwards = []
        try:
            # Its records carry the id of the request that sent it.
            with request_context.bound(target.run.request_id or None):
                runs.answer(target, _perform(target))
        finally:
            del _delivering.afterwards
        for callback in afterwards:
            callback()
        done += 1
    return done


def after_answering(callback):
    """Call `callback()` once this process's answer is recorded: for work that ends its own process (a
    recycle), which must answer before it goes. Only work delivered over the channel may ask."""
    afterwards = getattr(_delivering, "afterwards", None)
    if afterwards is None:
        raise RuntimeError("after_answering() outside work delivered over the command channel")
    afterwards.append(callback)


def _perform(target):
    try:
        write = registry.get_write(target.run.operation)
    except KeyError:  # sent by a newer or older release that has a write this one lacks
        return {"status": "failed", "summary": "", "result": None, "error": "this process has no such write"}
    return runs.execute(write, target.run, None, progress=_ignore_progress)


def _ignore_progress(**progress):
    """Work sent to processes is short: its progress is its answer."""


def _sweep_due():
    now = time.monotonic()
    with _sweep_lock:
        if now - _last_sweep[0] < settings.PORTAL_HEARTBEAT_SECONDS:
            return False
        _last_sweep[0] = now
        return True
