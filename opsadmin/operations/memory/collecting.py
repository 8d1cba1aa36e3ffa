"""A full garbage collection in this process, with its memory before and after: what "Collect garbage now" and
`memory --gc` report."""

import gc
from dataclasses import dataclass

import psutil


@dataclass
class Collection:
    rss_before_bytes: int
    rss_after_bytes: int
    uss_before_bytes: int | None
    uss_after_bytes: int | None
    collected: int  # unreachable objects found, every generation

    @property
    def freed_bytes(self):
        return self.rss_before_bytes - self.rss_after_bytes


def collect():
    """Collect every generation now. RSS may not drop: freed memory often stays in the allocator's arenas."""
    before = _memory()
    collected = gc.collect()
    after = _memory()
    return Collection(before[0], after[0], before[1], after[1], collected)


def _memory():
    """(RSS, USS); USS None where the platform refuses or does not give it."""
    process = psutil.Process()
    try:
        return process.memory_info().rss, getattr(process.memory_full_info(), "uss", None)
    except (psutil.AccessDenied, NotImplementedError):
        return process.memory_info().rss, None
