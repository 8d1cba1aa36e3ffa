"""Circuit breakers for the portal's dependencies (opsadmin/runtime/breakers/): see breaker.py and state.py."""

from opsadmin.runtime.breakers.breaker import CLOSED, HALF_OPEN, OPEN, Breaker, BreakerStatus, Unavailable, describe
from opsadmin.runtime.breakers.registry import every, get, guard, link, names, reset

__all__ = [
    "CLOSED",
    "HALF_OPEN",
    "OPEN",
    "Breaker",
    "BreakerStatus",
    "Unavailable",
    "describe",
    "every",
    "get",
    "guard",
    "link",
    "names",
    "reset",
]
