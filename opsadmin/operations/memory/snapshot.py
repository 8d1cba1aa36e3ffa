"""An allocation snapshot of this process: tracemalloc's top allocation sites over a few seconds.

Off by default: tracemalloc costs every allocation while it traces (and some memory), so it is
started only on request, for at most MAX_SECONDS, and stopped before the answer, whatever
happens. A process that traces already (PYTHONTRACEMALLOC, or someone's snapshot) is left alone.
"""

import time
import tracemalloc
from dataclasses import dataclass

MAX_SECONDS = 10  # the channel's thread does not beat meanwhile: well under PORTAL_INSTANCE_GONE_SECONDS
MAX_SITES = 50


class AlreadyTracing(RuntimeError):
    """tracemalloc was running before the snapshot: stopping it would take it from whoever started it."""


@dataclass
class Site:
    where: str  # "opsadmin/models.py:42"
    size_bytes: int
    blocks: int


@dataclass
class Snapshot:
    seconds: float
    traced_bytes: int  # everything still allocated at the end that was allocated while tracing
    peak_bytes: int
    sites: list[Site]


def take(seconds, top):
    """Trace allocations for `seconds`, then the `top` sites still holding the most memory allocated meanwhile."""
    if tracemalloc.is_tracing():
        raise AlreadyTracing("tracemalloc is already tracing in this process")
    tracemalloc.start()
    try:
        started = time.monotonic()
        time.sleep(seconds)
        snapshot = tracemalloc.take_snapshot()
        traced, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    statistics = snapshot.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)]).statistics("lineno")
    sites = [Site(str(stat.traceback[0]), stat.size, stat.count) for stat in statistics[:top]]
    return Snapshot(round(time.monotonic() - started, 3), traced, peak, sites)
