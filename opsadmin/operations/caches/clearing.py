"""Clearing caches (writes): one alias's keys, a pattern inside one alias, or a whole Redis database on confirmation.

`cache.clear()` is the wrong tool here: django-redis and Django's RedisCache both run FLUSHDB,
which also wipes every other alias, the sessions and any other state sharing the database.
So an alias is cleared by its keys only, the ones starting with its KEY_PREFIX and VERSION
(`<prefix>:<version>:`, escaped for the glob), found by SCAN MATCH COUNT in batches and
removed by UNLINK (DEL on a Redis before 4.0) a batch at a time: never KEYS, so no single
command blocks Redis for long, however big the database. A user's pattern is only ever
applied after that prefix, so it can't reach another alias's keys; it is validated first
(length, control characters, balanced brackets, a bounded number of `*`: old Redis versions
can spin on patterns with many). The local-memory cache is cleared the same way, by prefix,
in this process's memory. An alias whose keys would also match another alias's prefix is
refused rather than cleared.
"""

import re
import time
import unicodedata
from dataclasses import dataclass, field

import redis
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache

from opsadmin.operations.caches.stores import (
    REDIS_ERRORS,
    backend_path,
    key_scope,
    neighbours,
    overlapping_aliases,
    redis_problem,
    redis_target,
    server_info,
)
from opsadmin.spine import humanize
from opsadmin.spine.results import Report
from opsadmin.spine.runs import OperationFailed

DEFAULT_BATCH = 1000  # SCAN COUNT and keys per UNLINK
MAX_BATCH = 100_000
MAX_PATTERN_LENGTH = 200
MAX_WILDCARDS = 10
PROGRESS_INTERVAL = 0.5  # seconds between two progress reports (each one is a database write)
INVISIBLE_CATEGORIES = {"Cc", "Cf", "Cs"}  # control, format (zero-width, bidi), surrogates


class InvalidPattern(ValueError):
    """A pattern that isn't a well-formed glob we accept; nothing was done."""


@dataclass(kw_only=True)
class ClearReport(Report):
    alias: str
    backend: str
    match: str  # the full pattern matched against keys, prefix included
    pattern: str  # the caller's glob after the prefix ("" for the whole alias)
    dry_run: bool
    keys_matched: int  # keys found (in a dry run: what would be deleted)
    keys_deleted: int
    seconds: float
    keys_per_second: float
    notes: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class FlushReport(Report):
    alias: str
    server: str
    db: int
    keys_before: int
    shared_with: list[str]  # the other aliases whose keys went too
    shared_components: list[str]
    dry_run: bool
    seconds: float


# --- Operations ---------------------------------------------------------------------------------------


def clear(alias, pattern="", *, dry_run=False, progress=None):
    """The write: the whole alias, or only the keys matching `pattern` inside it; never FLUSHDB."""
    if pattern:
        return clear_pattern(alias, pattern, dry_run=dry_run, progress=progress)
    return clear_alias(alias, dry_run=dry_run, progress=progress)


def clear_alias(alias, *, dry_run=False, progress=None, batch=DEFAULT_BATCH):
    """Delete every key of `alias` (its prefix and version) and nothing else."""
    return delete_matching(alias, "", dry_run=dry_run, progress=progress, batch=batch)


def clear_pattern(alias, pattern, *, dry_run=False, progress=None, batch=DEFAULT_BATCH):
    """Delete the keys of `alias` whose part after `<prefix>:<version>:` matches the glob `pattern`."""
    parse_glob(pattern)
    return delete_matching(alias, pattern, dry_run=dry_run, progress=progress, batch=batch)


def delete_matching(alias, pattern, *, select=None, dry_run=False, progress=None, batch=DEFAULT_BATCH):
    """The keys of `alias` matching `pattern` after its prefix ("" for all, and `select(rest_of_key)` if given):
    delete them, or only count them on a dry run.

    `pattern` is trusted (validated by the caller); `select` narrows what a glob can't express.
    Raises OperationFailed when the backend can't clear by prefix, when another alias's keys
    would match too, or when Redis fails midway (saying how many keys were deleted by then).
    """
    glob = pattern or "*"
    if not 1 <= batch <= MAX_BATCH:
        raise ValueError(f"batch must be between 1 and {MAX_BATCH}")
    cache = caches[alias]
    backend = backend_path(alias)
    target = redis_target(cache)
    if reason := unsupported_reason(alias):
        raise OperationFailed(reason)
    scope = key_scope(cache)
    memo = {}
    if target is not None and isinstance(info := server_info(target, memo), Exception):
        raise OperationFailed(redis_problem(target, info) + "; nothing was deleted")
    if overlapping := overlapping_aliases(alias, memo):
        raise OperationFailed(
            f"the keys of {', '.join(overlapping)} also start with {scope.literal!r}: clearing {alias} would delete "
            "them too. Give the aliases distinct KEY_PREFIX values first."
        )
    progress = _throttled(progress)
    started = time.monotonic()
    if target is not None:
        match = scope.pattern(glob)
        matched, deleted = _delete_redis(target, match, len(scope.literal), select, dry_run, progress, batch)
        notes = []
    else:
        match = scope.literal + glob
        matched, deleted = _delete_locmem(cache, scope.literal, parse_glob(glob), select, dry_run)
        notes = ["Local memory: this process's entries (a clear of local memory is sent to every web process)."]
    progress(final=True, deleted=deleted, scanned=matched)
    seconds = time.monotonic() - started
    report = ClearReport(
        alias=alias,
        backend=backend,
        match=match,
        pattern=pattern,
        dry_run=dry_run,
        keys_matched=matched,
        keys_deleted=deleted,
        seconds=round(seconds, 3),
        keys_per_second=round((matched if dry_run else deleted) / seconds) if seconds > 0 else 0,
        summary="",
        notes=notes,
    )
    report.summary = _clear_summary(report)
    return report


def flush_database(alias, confirm, *, dry_run=False):
    """FLUSHDB ASYNC of the Redis database behind `alias`, only when `confirm` is its number as typed."""
    if refusal := flush_refusal(alias, confirm):
        raise OperationFailed(refusal)
    target = redis_target(caches[alias])
    memo = {}
    started = time.monotonic()
    try:
        keys_before = target.client.dbsize()
        shared_with, components = neighbours(alias, memo)
        if not dry_run:
            target.client.flushdb(asynchronous=True)
    except REDIS_ERRORS as error:
        raise OperationFailed(redis_problem(target, error)) from None
    others = [*shared_with, *components]
    also = f", including the keys of {', '.join(others)}" if others else ""
    verb = "Would flush" if dry_run else "Flushed"
    return FlushReport(
        alias=alias,
        server=target.address,
        db=target.db,
        keys_before=keys_before,
        shared_with=shared_with,
        shared_components=components,
        dry_run=dry_run,
        seconds=round(time.monotonic() - started, 3),
        summary=f"{verb} Redis {target.address} db {target.db}: {humanize.plural(keys_before, 'key')}{also}.",
    )


def unsupported_reason(alias):
    """Why `alias` can't be cleared by prefix, or "" when it can (no I/O: the forms ask this)."""
    cache = caches[alias]
    if redis_target(cache) is None and not isinstance(cache, LocMemCache):
        return f"clearing by prefix is not supported for {backend_path(alias)}"
    return ""


def flush_refusal(alias, confirm):
    """Why the alias's Redis database won't be flushed with `confirm` as typed, or "" (no I/O: the form asks too)."""
    target = redis_target(caches[alias])
    if target is None:
        return f"{alias} is not a Redis cache ({backend_path(alias)}): there is no database to flush"
    if str(confirm).strip() != str(target.db):
        return f"type the database number {target.db} to confirm flushing db {target.db} of {target.address}"
    return ""


def in_local_memory(alias):
    """True when `alias` lives in each process's own memory: a clear must reach every web process."""
    return isinstance(caches[alias], LocMemCache)


# --- Patterns -----------------------------------------------------------------------------------------


def parse_glob(glob):
    """Check a Redis glob (* ? [abc] [^a-z] and \\x escapes) and compile the same match as a Python regex."""
    if not isinstance(glob, str) or not glob:
        raise InvalidPattern("Enter a pattern, such as stock:AAPL:*")
    if len(glob) > MAX_PATTERN_LENGTH:
        raise InvalidPattern(f"The pattern is longer than {MAX_PATTERN_LENGTH} characters.")
    if any(unicodedata.category(char) in INVISIBLE_CATEGORIES for char in glob):
        raise InvalidPattern("The pattern contains control or invisible characters.")
    if glob.count("*") > MAX_WILDCARDS:
        raise InvalidPattern(f"The pattern has more than {MAX_WILDCARDS} '*'.")
    regex, i = [], 0
    while i < len(glob):
        char = glob[i]
        if char == "\\":
            if i + 1 == len(glob):
                raise InvalidPattern("The pattern ends with a lone backslash.")
            regex.append(re.escape(glob[i + 1]))
            i += 2
        elif char == "[":
            part, i = _parse_class(glob, i)
            regex.append(part)
        elif char == "]":
            raise InvalidPattern("Unbalanced ']': write \\] for a literal bracket.")
        else:
            regex.append({"*": ".*", "?": "."}.get(char) or re.escape(char))
            i += 1
    return re.compile("".join(regex), re.DOTALL)


def _parse_class(glob, start):
    """One [...] class from glob[start] ('['): (its regex, the index after it). Only forms Redis reads the same way."""
    i = start + 1
    negate = glob[i : i + 1] == "^"
    i += negate
    items = []
    while True:
        if i >= len(glob):
            raise InvalidPattern("Unbalanced '[': close it with ], or write \\[ for a literal bracket.")
        char = glob[i]
        if char == "]":
            if not items:
                raise InvalidPattern("Empty character class: [] matches nothing.")
            return "[" + "^" * negate + "".join(items) + "]", i + 1
        if char == "\\":
            raise InvalidPattern("Backslash escapes are not supported inside [...].")
        if glob[i + 1 : i + 2] == "-":
            end = glob[i + 2 : i + 3]
            if end in ("", "]", "\\"):
                raise InvalidPattern("A range in [...] needs an end character, such as [a-z].")
            low, high = sorted((char, end))  # Redis accepts reversed ranges
            items.append(f"{re.escape(low)}-{re.escape(high)}")
            i += 3
        else:
            items.append(re.escape(char))
            i += 1


# --- The two engines ----------------------------------------------------------------------------------


def _delete_redis(target, match, skip, select, dry_run, progress, batch):
    """SCAN MATCH COUNT batch; UNLINK what matched, a batch at a time. (keys matched, keys deleted)."""
    client, cursor, matched, deleted, pending = target.client, 0, 0, 0, []
    remove = client.unlink
    try:
        while True:
            cursor, keys = client.scan(cursor=cursor, match=match, count=batch)
            if select is not None:
                keys = [key for key in keys if select(_text(key)[skip:])]
            matched += len(keys)
            if not dry_run:
                pending.extend(keys)
                while len(pending) >= batch or (cursor == 0 and pending):
                    chunk, pending = pending[:batch], pending[batch:]
                    try:
                        deleted += remove(*chunk)
                    except redis.ResponseError as error:  # Redis before 4.0: no UNLINK
                        if remove == client.delete or "unknown command" not in str(error).lower():
                            raise
                        remove = client.delete
                        deleted += remove(*chunk)
            progress(deleted=deleted, scanned=matched)
            if cursor == 0:
                return matched, deleted
    except REDIS_ERRORS as error:
        done = f"; {deleted:,} keys were deleted before it stopped" if deleted else "; nothing was deleted"
        raise OperationFailed(redis_problem(target, error) + done) from None


def _delete_locmem(cache, literal, regex, select, dry_run):
    """Entries of this process's store starting with `literal` whose rest matches. (live entries matched, deleted)."""
    with cache._lock:
        keys = [
            key
            for key in cache._cache
            if key.startswith(literal)
            and regex.fullmatch(key[len(literal) :])
            and (select is None or select(key[len(literal) :]))
        ]
        live = sum(1 for key in keys if not cache._has_expired(key))
        if dry_run:
            return live, 0
        for key in keys:
            cache._delete(key)
    return live, live  # expired entries went too, but they were already gone for every reader


def _throttled(progress):
    """progress(**counts) at most every PROGRESS_INTERVAL seconds, and always for the final counts."""
    if progress is None:
        return lambda final=False, **counts: None
    last = [0.0]

    def report(final=False, **counts):
        now = time.monotonic()
        if final or now - last[0] >= PROGRESS_INTERVAL:
            last[0] = now
            progress(**counts)

    return report


def _text(key):
    return key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)


def _clear_summary(report):
    where = f"{report.alias} ({report.match})"
    if report.dry_run:
        return (
            f"Dry run: {humanize.plural(report.keys_matched, 'key')} of {where} would be deleted; nothing was deleted."
        )
    rate = f", {report.keys_per_second:,} keys/s" if report.keys_deleted else ""
    return f"Deleted {humanize.plural(report.keys_deleted, 'key')} of {where} in {report.seconds:.2f} s{rate}."
