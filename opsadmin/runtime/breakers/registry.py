"""The fleet's circuit breakers, declared in PORTAL_BREAKERS, built once per process.

`get(name)` is the breaker a guard calls through; `guard(name)` wraps any other outbound
call in one (declare it in PORTAL_BREAKERS first, so the console lists it before its first
call). Every breaker of a process shares its state through one `RedisLink`.
"""

import functools
import threading

from django.conf import settings
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from opsadmin.runtime.breakers.breaker import Breaker
from opsadmin.runtime.breakers.state import RedisLink, SharedState

_breakers = {}
_link = None
_lock = threading.Lock()


def every_error(error):
    """The default of a declaration without `failures`: every exception is a failure of the dependency."""
    return isinstance(error, Exception)


def names():
    return list(settings.PORTAL_BREAKERS)


def get(name):
    """The breaker called `name`; KeyError when PORTAL_BREAKERS does not declare it."""
    breaker = _breakers.get(name)
    if breaker is None:
        with _lock:
            breaker = _breakers.get(name) or _build(name)
            _breakers[name] = breaker
    return breaker


def every():
    return [get(name) for name in names()]


def link():
    global _link
    if _link is None:
        _link = RedisLink(
            settings.REDIS_URL,
            timeout=settings.PORTAL_BREAKER_REDIS_TIMEOUT,
            retry_seconds=settings.PORTAL_BREAKER_REDIS_RETRY_SECONDS,
        )
    return _link


def guard(name):
    """Decorator: calls go through the breaker `name` (`Unavailable` at once while it is open)."""
    if name not in settings.PORTAL_BREAKERS:
        raise KeyError(f"circuit breaker {name!r} is not declared in PORTAL_BREAKERS")

    def decorate(function):
        @functools.wraps(function)
        def guarded(*args, **kwargs):
            return get(name).call(function, *args, **kwargs)

        return guarded

    return decorate


def _build(name):
    declaration = settings.PORTAL_BREAKERS[name]
    storage = SharedState(
        name, link(), sync_seconds=settings.PORTAL_BREAKER_SYNC_SECONDS, history_length=settings.PORTAL_BREAKER_HISTORY
    )
    failures = declaration.get("failures")
    return Breaker(
        name,
        purpose=declaration.get("purpose", ""),
        fail_max=declaration["fail_max"],
        reset_timeout=declaration["reset_timeout"],
        counts=import_string(failures) if failures else every_error,
        storage=storage,
    )


def reset():
    """Forget every breaker built so far and the Redis link: the next `get` builds them anew, as a new process."""
    global _link
    with _lock:
        _breakers.clear()
        _link = None


def _forget_on_settings_change(*, setting, **kwargs):
    """Tests change the declarations, REDIS_URL or the timings: build the breakers anew."""
    if setting == "REDIS_URL" or setting.startswith("PORTAL_BREAKER"):
        reset()


setting_changed.connect(_forget_on_settings_change)
