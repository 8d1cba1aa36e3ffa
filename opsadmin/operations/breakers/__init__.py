"""The breakers capability (capability.py): every circuit breaker's state and history; reset, open or half-open one."""
