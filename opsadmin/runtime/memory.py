"""This process's memory figures, and its machine's: one JSON document published with each heartbeat.

One document rather than a column per figure, so a figure added later needs no migration.
Cheap enough for every beat (a few reads of /proc and /sys). A figure the OS refuses, or
this platform does not give (PSS off Linux, a cgroup off Linux), is None, which the pages
show as "not available here"; one that fails is left out of the beat's document, never
the beat itself.
"""

import gc
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

from opsadmin.runtime import memory_limits

logger = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
NO_LIMIT = 1 << 60  # cgroup v1 says "no limit" with a huge number (2**63 rounded to a page)

_process = None  # psutil's handle on this process: it keeps the CPU times of the previous sample


def figures():
    """This process's figures now (keys as the Memory capability reads them)."""
    process = _this_process()
    found = {"sampled_at": datetime.now(UTC).isoformat()}
    for name, reading in (
        ("memory", _memory),
        ("threads", lambda p: {"threads": p.num_threads()}),
        ("open_files", _open_files),
        ("cpu_percent", lambda p: {"cpu_percent": p.cpu_percent(interval=None)}),
        ("uptime", lambda p: {"uptime_seconds": round(time.time() - p.create_time(), 1)}),
        ("gc", lambda p: {"gc": collector()}),
        ("limits", lambda p: _limits()),
        ("machine", lambda p: {"machine": machine()}),
    ):
        try:
            found |= reading(process)
        except Exception:  # one figure lost, never the beat that carries them
            logger.debug("Memory figure %s not read in pid %s", name, os.getpid(), exc_info=True)
    return found


def _this_process():
    global _process
    if _process is None:
        _process = psutil.Process()
        _process.cpu_percent(interval=None)  # the first call only starts the count
    return _process


def _memory(process):
    """RSS and VMS always; USS and PSS where the OS gives them (Linux's smaps_rollup; macOS and Windows: USS)."""
    try:
        info = process.memory_full_info()
    except (psutil.AccessDenied, NotImplementedError):
        info = process.memory_info()
    return {
        "rss_bytes": info.rss,
        "uss_bytes": getattr(info, "uss", None),
        "pss_bytes": getattr(info, "pss", None),
        "vms_bytes": info.vms,
    }


def _open_files(process):
    """Open file descriptors (sockets included) on POSIX, handles on Windows: counted, not listed; None where
    the platform gives neither, or refuses."""
    counted = getattr(process, "num_fds", None) or getattr(process, "num_handles", None)
    try:
        return {"open_files": counted() if counted else None}
    except (psutil.AccessDenied, NotImplementedError):
        return {"open_files": None}


def _limits():
    return {
        "requests_served": memory_limits.requests_served(),
        "limits": memory_limits.limits(),
        "limit_events": memory_limits.limit_events(),
    }


def collector():
    """The garbage collector's counts now, and per generation its collections, collected and uncollectable."""
    stats = gc.get_stats()
    return {
        "counts": list(gc.get_count()),
        "collections": [generation["collections"] for generation in stats],
        "collected": [generation["collected"] for generation in stats],
        "uncollectable": [generation["uncollectable"] for generation in stats],
        "frozen": gc.get_freeze_count(),
    }


def machine(cgroup_root=CGROUP_ROOT, proc_cgroup=Path("/proc/self/cgroup")):
    """The machine's memory and swap, and the container's limit and usage when a cgroup sets one."""
    memory, swap = psutil.virtual_memory(), psutil.swap_memory()
    limit, usage = container_memory(cgroup_root, proc_cgroup)
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


def container_memory(cgroup_root=CGROUP_ROOT, proc_cgroup=Path("/proc/self/cgroup")):
    """(limit, usage) in bytes of this process's memory cgroup, v2 or v1; the limit is None when there is none."""
    for directory, limit_file, usage_file in _cgroup_candidates(cgroup_root, proc_cgroup):
        usage = _read_number(directory / usage_file)
        if usage is not None:
            limit = _read_number(directory / limit_file)
            return (limit if limit is not None and limit < NO_LIMIT else None), usage
    return None, None


def _cgroup_candidates(root, proc_cgroup):
    """Where this process's memory cgroup files may be: its own group's directory, then the mount's root
    (a container sees its own group there)."""
    try:
        lines = proc_cgroup.read_text(encoding="utf-8").splitlines()
    except OSError:
        lines = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2: "0::/path"
            yield root / path.lstrip("/"), "memory.max", "memory.current"
        elif "memory" in controllers.split(","):  # v1: "4:memory:/path"
            yield root / "memory" / path.lstrip("/"), "memory.limit_in_bytes", "memory.usage_in_bytes"
    yield root, "memory.max", "memory.current"
    yield root / "memory", "memory.limit_in_bytes", "memory.usage_in_bytes"


def _read_number(path):
    """The number in a cgroup file; None for "max", a missing file or anything else."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def reset():
    """Forget this process's handle, as a new process does (after fork, and in tests)."""
    global _process
    _process = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=reset)
