"""The cache aliases as staff see them (reads): one panel per alias, and the hit ratio for the dashboard.

A panel says what an alias is (backend, location with the password masked, key prefix and
version, declared purpose) and, for Redis, how its server is doing (INFO and DBSIZE) and how
many keys are this alias's own: counted with SCAN MATCH in batches, or, above
PORTAL_CACHE_COUNT_SCAN_LIMIT keys in the database, estimated from a RANDOMKEY sample. It also
names everything else living in the same Redis database (other aliases, and the components
of PORTAL_REDIS_SHARED_COMPONENTS), so the page can warn before a FLUSHDB.

Nothing here raises for a Redis that is down or hung: the panel carries an `error` instead,
and every call is bounded by the client's own socket timeouts (settings: 1 s). Finding an
alias's Redis database, its key prefix and its neighbours is `stores`'s, shared with `clearing`.
"""

import math
import re
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import caches

from opsadmin.operations.caches.stores import (
    CACHE_SESSION_ENGINES,
    LOCMEM,
    REDIS,
    REDIS_ERRORS,
    Unscopable,
    backend_path,
    cache_kind,
    key_scope,
    mask_location,
    neighbours,
    overlapping_aliases,
    redis_problem,
    redis_target,
    server_info,
)

SCAN_BATCH = 1000  # SCAN COUNT: keys Redis looks at per call, so no single call is long
CENSUS_KINDS = 10  # kinds of keys of no alias named one by one in a census; the rest are summed
VARIABLE_PART = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F-]{27}|\d+")  # a UUID or a number: what varies within a kind


@dataclass
class RedisServer:
    """A Redis server as INFO tells it: figures for the whole server, shown once however many aliases use it."""

    address: str
    redis_version: str
    uptime_seconds: int
    used_memory: int  # bytes
    peak_memory: int
    maxmemory: int  # 0: no limit
    maxmemory_policy: str
    hits: int
    misses: int
    hit_ratio: float | None  # None before the first lookup
    evicted_keys: int
    expired_keys: int
    connected_clients: int
    aliases: list[str]  # the cache aliases it serves


@dataclass
class RedisStats:
    """One alias's Redis database: its keys, and how many of them are the alias's own."""

    server: str  # the RedisServer's address
    db: int
    keys_in_db: int
    keys_with_expiry: int
    keys_under_prefix: int | None  # None when the alias's keys can't be told apart (custom KEY_FUNCTION)
    keys_under_prefix_estimated: bool  # True: from a random sample of keys_sample keys, ± keys_under_prefix_margin
    keys_under_prefix_margin: int
    keys_sample: int


@dataclass
class KeyKind:
    """Keys of one kind in a Redis database: an alias's (its pattern), or keys of no alias by their first part."""

    label: str  # "default (scanner:1:*)", or "no alias: celery*"
    keys: int
    of_alias: bool


@dataclass
class KeyCensus:
    """Every kind of key in one Redis database, with its count (estimated from a sample in a big database)."""

    server: str
    db: int
    keys_in_db: int
    kinds: list[KeyKind]
    estimated: bool
    sample: int


@dataclass
class CachePanel:
    """What one cache alias is and holds; `error` instead of statistics when its server doesn't answer."""

    alias: str
    backend: str
    kind: str  # "redis", "locmem" or "other"
    location: str  # passwords masked
    key_prefix: str
    version: int
    key_pattern: str  # what this alias's keys look like, e.g. "scanner:1:*"
    purpose: str
    holds_sessions: bool
    shared_with: list[str] = field(default_factory=list)  # other aliases in the same Redis database / memory store
    shared_components: list[str] = field(default_factory=list)  # other state kept there (sessions, breakers...)
    overlapping: list[str] = field(default_factory=list)  # aliases whose keys also match this alias's pattern
    redis: RedisStats | None = None
    entries: int | None = None  # local memory: entries in the store (of this process)
    entries_under_prefix: int | None = None
    max_entries: int | None = None
    note: str = ""
    error: str = ""


@dataclass
class HitRatio:
    """Keyspace hits / (hits + misses) over every Redis server behind an alias, each server counted once."""

    ratio: float | None  # None: no lookups yet
    hits: int
    misses: int
    servers: list[str]
    aliases: list[str]
    errors: list[str]


def cache_panels(memo=None):
    """One panel per alias of settings.CACHES, in their order. Each server is asked for INFO once (per `memo`)."""
    memo = {} if memo is None else memo
    return [_panel(alias, memo) for alias in settings.CACHES]


def cache_panel(alias):
    """The panel of one alias (KeyError for an unknown alias)."""
    if alias not in settings.CACHES:
        raise KeyError(alias)
    return _panel(alias, {})


def hit_ratio_summary():
    """The hit ratio across the Redis aliases' servers, with every server that did not answer; None without Redis."""
    memo, seen, hits, misses, servers, aliases, errors = {}, set(), 0, 0, [], [], []
    for alias in settings.CACHES:
        target = redis_target(caches[alias])
        if target is None:
            continue
        info = server_info(target, memo)
        if isinstance(info, Exception):
            errors.append(redis_problem(target, info))
            continue
        aliases.append(alias)
        server = info.get("run_id") or target.address
        if server in seen:
            continue
        seen.add(server)
        servers.append(target.address)
        hits += int(info.get("keyspace_hits", 0))
        misses += int(info.get("keyspace_misses", 0))
    if not servers and not errors:
        return None
    return HitRatio(_ratio(hits, misses), hits, misses, servers, aliases, list(dict.fromkeys(errors)))


def session_storage():
    """Where sessions live, in one sentence for the Caches page."""
    engine = settings.SESSION_ENGINE
    if engine in CACHE_SESSION_ENGINES:
        alias = settings.SESSION_CACHE_ALIAS
        lost = "logs everyone out" if engine.endswith(".cache") else "only drops cached copies"
        return f"Sessions are kept in the cache alias {alias!r} ({engine}): clearing or flushing it {lost}."
    return f"Sessions are not kept in a cache ({engine}): clearing a cache never logs anyone out."


def _panel(alias, memo):
    cache = caches[alias]
    kind = cache_kind(cache)
    try:
        scope = key_scope(cache)
        key_pattern, scope_problem = scope.pattern(), ""
    except Unscopable as error:
        scope, key_pattern, scope_problem = None, "", str(error)
    panel = CachePanel(
        alias=alias,
        backend=backend_path(alias),
        kind=kind,
        location=mask_location(settings.CACHES[alias].get("LOCATION", "")),
        key_prefix=cache.key_prefix,
        version=cache.version,
        key_pattern=key_pattern,
        purpose=settings.PORTAL_CACHE_PURPOSES.get(alias, ""),
        holds_sessions=settings.SESSION_ENGINE in CACHE_SESSION_ENGINES and alias == settings.SESSION_CACHE_ALIAS,
        note=scope_problem,
    )
    if kind == REDIS:
        _fill_redis(panel, redis_target(cache), scope, memo)
    elif kind == LOCMEM:
        _fill_locmem(panel, cache, scope)
    else:
        panel.note = panel.note or "Statistics are not available for this backend."
    if not panel.error:
        panel.shared_with, panel.shared_components = neighbours(alias, memo)
        panel.overlapping = overlapping_aliases(alias, memo, panel.shared_with)
    return panel


def _fill_redis(panel, target, scope, memo):
    info = server_info(target, memo)
    if isinstance(info, Exception):
        panel.error = redis_problem(target, info)
        return
    try:
        keys_in_db = target.client.dbsize()
        count = _count_keys(target.client, scope, keys_in_db) if scope else (None, False, 0, 0)
    except REDIS_ERRORS as error:
        panel.error = redis_problem(target, error)
        return
    keyspace = info.get(f"db{target.db}") or {}
    panel.redis = RedisStats(
        server=target.address,
        db=target.db,
        keys_in_db=keys_in_db,
        keys_with_expiry=int(keyspace.get("expires", 0)) if isinstance(keyspace, dict) else 0,
        keys_under_prefix=count[0],
        keys_under_prefix_estimated=count[1],
        keys_under_prefix_margin=count[2],
        keys_sample=count[3],
    )


def redis_servers(panels, memo):
    """Each Redis server behind the panels once, with the aliases it serves (INFO already in `memo`)."""
    servers = {}
    for panel in panels:
        if panel.redis is None:
            continue
        address = panel.redis.server
        if address not in servers:
            servers[address] = _server(address, memo[address])
        servers[address].aliases.append(panel.alias)
    return list(servers.values())


def _server(address, info):
    hits, misses = int(info.get("keyspace_hits", 0)), int(info.get("keyspace_misses", 0))
    return RedisServer(
        address=address,
        redis_version=str(info.get("redis_version", "")),
        uptime_seconds=int(info.get("uptime_in_seconds", 0)),
        used_memory=int(info.get("used_memory", 0)),
        peak_memory=int(info.get("used_memory_peak", 0)),
        maxmemory=int(info.get("maxmemory", 0)),
        maxmemory_policy=str(info.get("maxmemory_policy", "")),
        hits=hits,
        misses=misses,
        hit_ratio=_ratio(hits, misses),
        evicted_keys=int(info.get("evicted_keys", 0)),
        expired_keys=int(info.get("expired_keys", 0)),
        connected_clients=int(info.get("connected_clients", 0)),
        aliases=[],
    )


def key_census(alias):
    """Every kind of key in the Redis database of `alias`: each alias's there, and keys of no alias by kind
    (`_kind_of`), with counts. Counted with SCAN up to PORTAL_CACHE_COUNT_SCAN_LIMIT keys, else from a sample."""
    target = redis_target(caches[alias])
    mine, _ = neighbours(alias, {})
    scopes = {}
    for name in [alias, *mine]:
        try:
            scopes[name] = key_scope(caches[name])
        except Unscopable:
            continue
    keys_in_db = target.client.dbsize()
    if keys_in_db <= settings.PORTAL_CACHE_COUNT_SCAN_LIMIT:
        keys, estimated = list(target.client.scan_iter(count=SCAN_BATCH)), False
    else:
        keys, estimated = _sample_keys(target.client), True
    owned, others = dict.fromkeys(scopes, 0), {}
    for key in map(_as_bytes, keys):
        owners = [name for name, scope in scopes.items() if key.startswith(scope.literal.encode())]
        if owners:
            owned[max(owners, key=lambda name: len(scopes[name].literal))] += 1
        else:
            kind = _kind_of(key)
            others[kind] = others.get(kind, 0) + 1
    scale = keys_in_db / len(keys) if estimated and keys else 1
    kinds = [KeyKind(f"{name} ({scopes[name].literal}*)", round(count * scale), True) for name, count in owned.items()]
    ranked = sorted(others.items(), key=lambda item: -item[1])
    kinds += [KeyKind(f"no alias: {kind}", round(count * scale), False) for kind, count in ranked[:CENSUS_KINDS]]
    if rest := sum(count for _, count in ranked[CENSUS_KINDS:]):
        kinds.append(KeyKind(f"no alias: {len(ranked) - CENSUS_KINDS:,} other kinds", round(rest * scale), False))
    return KeyCensus(target.address, target.db, keys_in_db, kinds, estimated, len(keys) if estimated else 0)


def _kind_of(key):
    """A key of no alias as a pattern of its kind: its first part, numbers and UUIDs as * ("celery-task-meta-*",
    "rl:*" for "rl:user:1", "unrelated" for itself)."""
    first, colon, _ = key.partition(b":")
    kind = VARIABLE_PART.sub("*", first.decode("utf-8", "replace"))[:40]
    return kind + (":*" if colon else "")


def _sample_keys(client):
    """PORTAL_CACHE_COUNT_SAMPLE keys drawn with RANDOMKEY, in one pipeline."""
    pipeline = client.pipeline(transaction=False)
    for _ in range(settings.PORTAL_CACHE_COUNT_SAMPLE):
        pipeline.randomkey()
    return [key for key in pipeline.execute() if key is not None]


def _count_keys(client, scope, keys_in_db):
    """(count, estimated?, ± margin, sample size): SCAN MATCH in batches, or a RANDOMKEY sample when huge."""
    limit = settings.PORTAL_CACHE_COUNT_SCAN_LIMIT
    if keys_in_db <= limit:
        count, cursor = 0, 0
        while True:
            cursor, keys = client.scan(cursor=cursor, match=scope.pattern(), count=SCAN_BATCH)
            count += len(keys)
            if cursor == 0:
                return count, False, 0, 0
    keys = _sample_keys(client)
    if not keys:
        return 0, True, 0, 0
    literal = scope.literal.encode()
    share = sum(1 for key in keys if _as_bytes(key).startswith(literal)) / len(keys)
    # 95 % normal interval; at 0 % or 100 % the rule of three (3/n) stands in for it.
    spread = max(1.96 * math.sqrt(share * (1 - share) / len(keys)), 3 / len(keys))
    return round(share * keys_in_db), True, math.ceil(spread * keys_in_db), len(keys)


def _fill_locmem(panel, cache, scope):
    with cache._lock:
        panel.entries = len(cache._cache)
        if scope:
            panel.entries_under_prefix = sum(1 for key in cache._cache if key.startswith(scope.literal))
    panel.max_entries = cache._max_entries
    panel.note = panel.note or "Local memory: this process's entries only; every process has its own."


def _ratio(hits, misses):
    return hits / (hits + misses) if hits + misses else None


def _as_bytes(key):
    return key if isinstance(key, bytes) else str(key).encode()
