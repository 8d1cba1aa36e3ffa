"""The caches capability's reads as sections, what its admin page shows, and its system check."""

from dataclasses import dataclass

from django.conf import settings
from django.core import checks
from django.core.cache import caches

from opsadmin.operations.caches.inventory import (
    CachePanel,
    cache_panels,
    hit_ratio_summary,
    redis_servers,
    session_storage,
)
from opsadmin.operations.caches.stores import Unscopable, key_scope
from opsadmin.spine import humanize
from opsadmin.spine.results import FAILING, OK, WARNING, Section


@dataclass
class CacheInventory:
    caches: list[CachePanel]
    sessions: str  # where sessions live, in one sentence


def hit_ratio():
    """The Redis servers' hit ratio; failing, naming the server, when one does not answer."""
    summary = hit_ratio_summary()
    if summary is None:
        return Section(OK, "local memory", "each process keeps its own cache: no shared statistics", data=summary)
    if summary.errors:
        return Section(FAILING, "Redis unreachable", "; ".join(summary.errors), lines=summary.errors, data=summary)
    if summary.ratio is None:
        return Section(OK, "no lookups yet", "Redis has answered no cache lookup since it started", data=summary)
    headline = f"{humanize.percent(summary.ratio)} hits"
    return Section(OK, headline, f"{summary.hits:,} hits, {summary.misses:,} misses", data=summary)


def inventory():
    """Every alias: what it holds and how its store is doing."""
    panels = cache_panels()
    errors = [f"{panel.alias}: {panel.error}" for panel in panels if panel.error]
    overlaps = [
        f"{panel.alias}: its keys also match {', '.join(panel.overlapping)}" for panel in panels if panel.overlapping
    ]
    status = FAILING if errors else WARNING if overlaps else OK
    headline = f"{len(panels) - len(errors)} of {len(panels)} aliases answering"
    lines = errors + overlaps + [f"{panel.alias}: {panel.backend} {panel.key_pattern}" for panel in panels]
    return Section(status, headline, session_storage(), lines=lines, data=CacheInventory(panels, session_storage()))


def page_context():
    """The Redis servers once each (their figures are server-wide), then every alias."""
    memo = {}
    panels = cache_panels(memo)
    return {"servers": redis_servers(panels, memo), "panels": panels, "sessions": session_storage()}


def distinct_prefixes(app_configs=None, **kwargs):
    """System check: of two aliases in one store (same backend and location), neither prefix may start the other.

    From the settings alone, no server is asked: a clear of one would otherwise take the other's keys.
    """
    scopes = {}
    for alias, config in settings.CACHES.items():
        try:
            literal = key_scope(caches[alias]).literal
        except Unscopable:
            continue
        scopes.setdefault((config["BACKEND"], str(config.get("LOCATION", ""))), []).append((alias, literal))
    return [
        checks.Warning(
            f"the keys of cache alias {other!r} also start with {alias!r}'s prefix {literal!r}",
            hint="Give every cache alias in one store a KEY_PREFIX that no other starts with.",
            id="opsadmin.caches.W001",
        )
        for aliases in scopes.values()
        for alias, literal in aliases
        for other, theirs in aliases
        if other != alias and theirs.startswith(literal)
    ]
