"""Where each cache alias keeps its keys: its Redis database or local-memory store, its key prefix, its neighbours.

Shared by the inventory (what the Caches page shows) and clearing (what may be deleted):
the raw Redis client behind an alias, the fixed prefix of its keys as a Redis glob, its
server's INFO (asked once per address per memo), and who else keeps state in the same
database or store (other aliases, PORTAL_REDIS_SHARED_COMPONENTS, cache-backed sessions).
No I/O happens here except `server_info`, which never raises for a Redis that fails.
"""

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

from opsadmin.spine.runs import OperationFailed

REDIS, LOCMEM, OTHER = "redis", "locmem", "other"
REDIS_ERRORS = (redis.RedisError, OSError)  # OSError: socket errors redis-py lets through
MASK = "***"
SECRET_QUERY_PARAMETERS = {"password", "passwd", "pass", "secret", "token", "auth"}
CACHE_SESSION_ENGINES = {
    "django.contrib.sessions.backends.cache": "sessions",
    "django.contrib.sessions.backends.cached_db": "sessions (cached copies; the database keeps them)",
}

_GLOB_SPECIAL = re.compile(r"([\\*?\[\]])")


def glob_escape(text):
    """`text` as a literal in a Redis glob: backslash before * ? [ ] and backslash itself."""
    return _GLOB_SPECIAL.sub(r"\\\1", text)


class Unscopable(OperationFailed):
    """The alias's KEY_FUNCTION doesn't start keys with a fixed prefix: its keys can't be told apart."""


@dataclass(frozen=True)
class RedisTarget:
    """The raw client of an alias's primary, and the server and database number it points at."""

    client: redis.Redis
    address: str  # host:port, or the socket path
    db: int


@dataclass(frozen=True)
class KeyScope:
    """An alias's keys: each starts with `literal`; `match` is the Redis glob of that prefix (specials escaped)."""

    literal: str
    match: str

    def pattern(self, glob="*"):
        return self.match + glob


def cache_kind(cache):
    if isinstance(cache, LocMemCache):
        return LOCMEM
    return REDIS if redis_target(cache) is not None else OTHER


def backend_path(alias):
    return settings.CACHES[alias]["BACKEND"]


def redis_target(cache):
    """The RedisTarget behind a django-redis or Django RedisCache (primary server), else None. No I/O."""
    client = None
    if isinstance(cache, DjangoRedisCache):
        client = cache._cache.get_client(write=True)
    else:
        try:
            from django_redis.cache import RedisCache as DjangoRedisRedisCache
            from django_redis.client import ShardClient
        except ImportError:  # django-redis not installed: only Django's own backend then
            return None
        # A sharded client spreads keys over several servers: there is no one database to report or scan.
        if isinstance(cache, DjangoRedisRedisCache) and not isinstance(cache.client, ShardClient):
            client = cache.client.get_client(write=True)
    if client is None:
        return None
    pool = client.connection_pool
    kwargs = pool.connection_kwargs
    if kwargs.get("path"):
        address = kwargs["path"]
    elif kwargs.get("host"):
        address = f"{kwargs['host']}:{kwargs.get('port', 6379)}"
    else:  # e.g. a Sentinel pool: named by its service
        address = f"sentinel:{getattr(pool, 'service_name', '?')}"
    return RedisTarget(client, address, int(kwargs.get("db") or 0))


def key_scope(cache):
    """The fixed start of every key of this alias (KEY_PREFIX and VERSION through its KEY_FUNCTION).

    Built like django-redis's make_pattern: the key function applied to a glob with the prefix
    and version glob-escaped. Raises Unscopable when the key function doesn't put them first.
    """
    literal = cache.key_func("", cache.key_prefix, cache.version)
    match = cache.key_func("", glob_escape(cache.key_prefix), glob_escape(str(cache.version)))
    probe = "\x00probe"
    if not (
        cache.key_func(probe, cache.key_prefix, cache.version) == literal + probe
        and cache.key_func(probe, glob_escape(cache.key_prefix), glob_escape(str(cache.version))) == match + probe
    ):
        raise Unscopable(f"the KEY_FUNCTION of this alias doesn't start its keys with a fixed prefix ({literal!r})")
    return KeyScope(literal, match)


def server_info(target, memo):
    """INFO (default sections) of the target's server, or the exception it raised; once per address per memo."""
    if target.address not in memo:
        try:
            memo[target.address] = target.client.info()
        except REDIS_ERRORS as error:
            memo[target.address] = error
    return memo[target.address]


def redis_problem(target, error):
    """A short, safe sentence for a Redis error (no traceback, no password: redis-py's messages carry none)."""
    if isinstance(error, redis.ResponseError):
        return f"Redis at {target.address} refused the command: {error}"
    return f"Redis at {target.address} is not answering: {error or type(error).__name__}"


def neighbours(alias, memo):
    """(other aliases, components) keeping state in the same Redis database or local-memory store as `alias`."""
    identity = _store_identity(alias, memo)
    if identity is None:
        return [], []
    aliases = [other for other in settings.CACHES if other != alias and _store_identity(other, memo) == identity]
    components = [name for name, where in shared_components().items() if _place_identity(where, memo) == identity]
    return aliases, components


def overlapping_aliases(alias, memo, neighbour_aliases=None):
    """Aliases sharing the store whose keys also start with this alias's prefix: a clear of it would take theirs."""
    if neighbour_aliases is None:
        neighbour_aliases, _ = neighbours(alias, memo)
    try:
        mine = key_scope(caches[alias]).literal
    except Unscopable:
        return []
    overlapping = []
    for other in neighbour_aliases:
        try:
            if key_scope(caches[other]).literal.startswith(mine):
                overlapping.append(other)
        except Unscopable:
            overlapping.append(other)  # can't tell: assume the worst
    return overlapping


def shared_components():
    """{component: cache alias or Redis URL} from PORTAL_REDIS_SHARED_COMPONENTS, plus cache-backed sessions."""
    components = dict(settings.PORTAL_REDIS_SHARED_COMPONENTS)
    if label := CACHE_SESSION_ENGINES.get(settings.SESSION_ENGINE):
        components.setdefault(label, settings.SESSION_CACHE_ALIAS)
    return components


def mask_location(location):
    """LOCATION with passwords masked: redis://:***@host:6379/0, redis://user:***@host, ?password=***."""
    if isinstance(location, list | tuple):
        return ",".join(mask_location(part) for part in location)
    location = str(location or "")
    if "," in location:
        return ",".join(mask_location(part) for part in location.split(","))
    if "://" not in location:
        return location
    parts = urlsplit(location)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{hostport}" if colon else f"{MASK}@{hostport}"  # a lone userinfo may be a password
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if k.lower() in SECRET_QUERY_PARAMETERS else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _store_identity(alias, memo):
    """What two aliases share when they share storage: a Redis server (by run_id when it answers) and db."""
    cache = caches[alias]
    if isinstance(cache, LocMemCache):
        return ("locmem", id(cache._cache))
    target = redis_target(cache)
    if target is None:
        return None
    info = server_info(target, memo)
    server = info.get("run_id") if isinstance(info, dict) else None
    return ("redis", server or target.address, target.db)


def _place_identity(where, memo):
    """A component's place: a cache alias, or a Redis URL (compared by address, or run_id if an alias answered)."""
    if where in settings.CACHES:
        return _store_identity(where, memo)
    try:
        kwargs = redis.ConnectionPool.from_url(str(where)).connection_kwargs
    except ValueError:
        return None
    address = kwargs.get("path") or f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
    info = memo.get(address)
    server = info.get("run_id") if isinstance(info, dict) else None
    return ("redis", server or address, int(kwargs.get("db") or 0))
