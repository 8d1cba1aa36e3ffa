"""Caches for the cache tests: a throwaway Redis of our own, two django-redis aliases on one of its
databases beside keys that belong to no alias, and local-memory aliases."""

import pytest
import redis
from django.core.cache import caches

LOCMEM = "django.core.cache.backends.locmem.LocMemCache"
# Keys in the same database that belong to no alias, some of them close to an alias's prefix.
UNRELATED = [b"unrelated", b"scanner:2:old-version", b"scannerx:1:lookalike", b"scanner:1", b"x:scanner:1:y"]


def redis_alias(url, prefix, timeout=1):
    options = {"SOCKET_CONNECT_TIMEOUT": timeout, "SOCKET_TIMEOUT": timeout}
    return {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": url, "KEY_PREFIX": prefix, "OPTIONS": options}


def locmem_alias(location, prefix):
    return {"BACKEND": LOCMEM, "LOCATION": location, "KEY_PREFIX": prefix}


@pytest.fixture
def raw(settings, redis_url):
    """The raw client of a Redis both aliases use, emptied, holding the UNRELATED keys."""
    settings.CACHES = {"default": redis_alias(redis_url, "scanner"), "ratelimit": redis_alias(redis_url, "ratelimit")}
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    for key in UNRELATED:
        client.set(key, b"keep")
    yield client
    client.close()


def fill(alias, count, prefix="k"):
    caches[alias].set_many({f"{prefix}{i}": i for i in range(count)}, timeout=600)
