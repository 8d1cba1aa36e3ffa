"""The Redis caches' client (CLIENT_CLASS): cache reads and writes go through the `cache` circuit breaker.

The cache is an accelerator, never a dependency. With Redis down or hung, a read answers
as a miss and a write is dropped: after one short socket timeout (PORTAL_CACHE_SOCKET_TIMEOUT)
while the breaker counts the failures, and at once while it is open. Nothing is logged per
call; the breaker logs its trip once. An error Redis answered with (a wrong type, out of
memory) is raised as before: it is not an outage.

Guarded: Django's cache API (get, get_many, set and add, set_many, delete, delete_many,
has_key, touch, incr, decr, incr_version). Not guarded: what operators run (keys, iter_keys,
delete_pattern, clear, and the raw connections the Caches page reads INFO and SCANs
through), which must report the real error; and django-redis's own extensions (ttl, expire,
lock, sets, hashes), which the portal does not use. A call given its own `client` is one
django-redis makes inside a guarded call (a pipeline), or a raw one: it goes straight through.

Each guarded call is timed for /metrics (opsadmin.runtime.metrics), by operation and outcome.
"""

import time

from django_redis.client import DefaultClient

from opsadmin.runtime import breakers
from opsadmin.runtime.metrics import CACHE_SECONDS
from opsadmin.runtime.outages import redis_outage
from portal.request_context import count_cache

BREAKER = "cache"


def _missing(key):
    """What incr and decr do with a key that is not there: what they do while Redis is away."""

    def raise_missing():
        raise ValueError(f"Key {key!r} not found: the cache is unavailable")

    return raise_missing


class GuardedClient(DefaultClient):
    def _guarded(self, client, unanswered, method, *args, **kwargs):
        """`method(*args, **kwargs)` through the breaker; `unanswered()` when Redis is out or the breaker open."""
        if client is not None:
            return method(*args, client=client, **kwargs)
        start, outcome = time.perf_counter(), "ok"
        try:
            return breakers.get(BREAKER).call(method, *args, **kwargs)
        except breakers.Unavailable:
            outcome = "unavailable"
            return unanswered()
        except Exception as error:
            if redis_outage(error):
                outcome = "unavailable"
                return unanswered()
            outcome = "error"
            raise
        finally:
            CACHE_SECONDS.labels(method.__name__, outcome).observe(time.perf_counter() - start)

    def get(self, key, default=None, version=None, client=None):
        value = self._guarded(client, lambda: default, super().get, key, default=default, version=version)
        if client is None:  # else django-redis's own call inside one already counted, or a raw one
            hit = value is not default
            count_cache(int(hit), int(not hit))
        return value

    def get_many(self, keys, version=None, client=None):
        keys = list(keys)
        found = self._guarded(client, dict, super().get_many, keys, version=version)
        if client is None:
            count_cache(len(found), len(keys) - len(found))
        return found

    def has_key(self, key, version=None, client=None):
        return self._guarded(client, lambda: False, super().has_key, key, version=version)

    def set(self, key, value, *args, client=None, **kwargs):  # add() is set(nx=True)
        return self._guarded(client, lambda: False, super().set, key, value, *args, **kwargs)

    def set_many(self, data, *args, client=None, **kwargs):
        """Dropped: every key failed, as Django's set_many says (django-redis returns None on success)."""
        return self._guarded(client, lambda: list(data), super().set_many, data, *args, **kwargs)

    def touch(self, key, *args, client=None, **kwargs):
        return self._guarded(client, lambda: False, super().touch, key, *args, **kwargs)

    def delete(self, key, *args, client=None, **kwargs):
        return self._guarded(client, lambda: 0, super().delete, key, *args, **kwargs)

    def delete_many(self, keys, *args, client=None, **kwargs):
        return self._guarded(client, lambda: 0, super().delete_many, keys, *args, **kwargs)

    def incr(self, key, *args, client=None, **kwargs):
        return self._guarded(client, _missing(key), super().incr, key, *args, **kwargs)

    def decr(self, key, *args, client=None, **kwargs):
        return self._guarded(client, _missing(key), super().decr, key, *args, **kwargs)

    def incr_version(self, key, *args, client=None, **kwargs):
        return self._guarded(client, _missing(key), super().incr_version, key, *args, **kwargs)
