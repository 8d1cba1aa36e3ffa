"""The portal's settings without the memory-limit middleware (bench/memory.py's baseline only)."""

from portal.settings import *  # noqa: F403
from portal.settings import MIDDLEWARE

MIDDLEWARE = [entry for entry in MIDDLEWARE if entry != "opsadmin.runtime.memory_limits.MemoryLimitMiddleware"]
