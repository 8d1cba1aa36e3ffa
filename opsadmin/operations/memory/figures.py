"""This process's memory figures, keyed as every worker publishes them with its heartbeat.

`this_process_figures()` is the one place the capability reads its own process: the
runtime's sampler (opsadmin.runtime.memory.process_figures) publishes the same keys for
every worker, and replaces this function once both are in one release. `machine_figures()`
reads the host and, when cgroup files say there is one, the container's limit.
"""

import gc
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

CGROUP_V2 = Path("/sys/fs/cgroup")
CGROUP_V1 = Path("/sys/fs/cgroup/memory")
UNLIMITED = 2**60  # what cgroup v1 writes for "no limit" is near 2**63: anything this large is none


def this_process_figures():
    """The figures of the calling process: memory, threads, files, CPU, the collector, limits."""
    process = psutil.Process()
    with process.oneshot():
        memory = process.memory_info()
        try:
            full = process.memory_full_info()  # USS and PSS walk the page tables: where the OS allows
        except (psutil.AccessDenied, NotImplementedError):
            full = None
        try:
            open_files = len(process.open_files())
        except psutil.AccessDenied:
            open_files = None
        figures = {
            "rss_bytes": memory.rss,
            "uss_bytes": getattr(full, "uss", None),
            "pss_bytes": getattr(full, "pss", None),
            "vms_bytes": memory.vms,
            "threads": process.num_threads(),
            "open_files": open_files,
            "cpu_percent": process.cpu_percent(interval=None),
            "uptime_seconds": round(time.time() - process.create_time(), 1),
        }
    return {
        **figures,
        "gc": collector_figures(),
        # Requests, limits and what the limits did are the runtime sampler's to count; read alone, none are known.
        "requests_served": None,
        "limits": {"soft_bytes": None, "hard_bytes": None, "sample_every": 0},
        "limit_events": {"collections": 0, "recycles": 0},
        "machine": machine_figures(),
        "sampled_at": datetime.now(UTC).isoformat(),
    }


def collector_figures():
    """The garbage collector per generation: pending counts, collections run, objects collected and uncollectable."""
    stats = gc.get_stats()
    return {
        "counts": list(gc.get_count()),
        "collections": [generation["collections"] for generation in stats],
        "collected": [generation["collected"] for generation in stats],
        "uncollectable": [generation["uncollectable"] for generation in stats],
        "frozen": gc.get_freeze_count(),
    }


def machine_figures():
    """The host's memory and swap, and the container's limit and usage (None: no cgroup limit)."""
    memory, swap = psutil.virtual_memory(), psutil.swap_memory()
    limit, usage = cgroup_memory()
    return {
        "total_bytes": memory.total,
        "available_bytes": memory.available,
        "used_bytes": memory.used,
        "percent": memory.percent,
        "swap_total_bytes": swap.total,
        "swap_used_bytes": swap.used,
        "cgroup_limit_bytes": limit,
        "cgroup_usage_bytes": usage,
    }


def cgroup_memory(v2=CGROUP_V2, v1=CGROUP_V1):
    """(limit, usage) in bytes from cgroup v2's memory.max/current or v1's limit/usage files; limit None for none."""
    for limit_file, usage_file in (
        (v2 / "memory.max", v2 / "memory.current"),
        (v1 / "memory.limit_in_bytes", v1 / "memory.usage_in_bytes"),
    ):
        try:
            limit, usage = limit_file.read_text().strip(), int(usage_file.read_text())
        except (OSError, ValueError):
            continue
        if limit == "max" or int(limit) >= UNLIMITED:
            return None, usage
        return int(limit), usage
    return None, None
