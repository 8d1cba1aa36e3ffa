"""The cache writes: their forms, where they run, and what a person confirms first.

The forms check everything that needs no Redis round trip: the alias exists and can be
cleared by prefix, the pattern is a glob we accept, the typed database number is the
alias's, the tickers are listed stocks. So every door gives the same error before anything
runs. Where a clear runs follows the alias: a Redis alias is cleared once, by the task
worker (a big database takes a while); local memory lives in each web process, so the
clear is sent to every one of them. A flush is one FLUSHDB ASYNC and runs in place.
"""

from django import forms
from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import ValidationError

from opsadmin.operations.caches import clearing
from opsadmin.operations.caches.inventory import cache_panel, key_census
from opsadmin.operations.caches.stock_entries import invalidate_stocks
from opsadmin.operations.caches.stores import (
    REDIS_ERRORS,
    Unscopable,
    key_scope,
    neighbours,
    redis_problem,
    redis_target,
)
from opsadmin.spine import humanize
from opsadmin.spine.arguments import CanonicalListField, ConfirmationField
from opsadmin.spine.capability import Confirmation, ModelAction, Write
from opsadmin.spine.targets import EVERY_WEB_PROCESS, HERE, TASK_WORKER, ByArguments
from stocks.cache_keys import STOCK_CACHE_ALIAS
from stocks.models import Stock
from stocks.tickers import normalize_ticker

PERMISSION = "clear_cache"
MAX_TICKERS = 5000


def _alias_choices():
    return [(alias, alias) for alias in settings.CACHES]


class ClearCacheForm(forms.Form):
    alias = forms.ChoiceField(choices=_alias_choices, help_text="The cache alias whose keys (prefix and version) go.")
    pattern = forms.CharField(
        required=False,
        max_length=clearing.MAX_PATTERN_LENGTH,
        help_text="Only keys whose part after the alias's prefix:version: matches this glob, "
        "e.g. stock:AAPL:*; empty for all the alias's keys.",
    )
    dry_run = forms.BooleanField(required=False, help_text="Count what would be deleted; delete nothing.")

    def clean_alias(self):
        alias = self.cleaned_data["alias"]
        if reason := clearing.unsupported_reason(alias):
            raise ValidationError(reason[0].upper() + reason[1:] + ".", code="unsupported")
        return alias

    def clean_pattern(self):
        pattern = self.cleaned_data["pattern"]
        if pattern:
            try:
                clearing.parse_glob(pattern)
            except clearing.InvalidPattern as error:
                raise ValidationError(str(error), code="invalid_pattern") from None
        return pattern

    def clean(self):
        """A pattern typed with the alias's prefix ("scanner:1:stock:*", as the page shows keys) means the part
        after it: matched after the prefix, it would find nothing."""
        cleaned = super().clean()
        alias, pattern = cleaned.get("alias"), cleaned.get("pattern")
        if alias and pattern:
            try:
                literal = key_scope(caches[alias]).literal
            except Unscopable:
                return cleaned
            if pattern.startswith(literal):
                rest = pattern.removeprefix(literal)
                cleaned["pattern"] = "" if rest in ("", "*") else rest  # "" is every key of the alias
        return cleaned


class FlushRedisForm(forms.Form):
    alias = forms.ChoiceField(choices=_alias_choices, help_text="A Redis cache alias: its whole database is flushed.")
    confirm = ConfirmationField(help_text="Type the Redis database number to confirm.")

    def clean(self):
        cleaned = super().clean()
        alias = cleaned.get("alias")
        if alias is None:
            return cleaned
        if redis_target(caches[alias]) is None:
            self.add_error("alias", clearing.flush_refusal(alias, "") + ".")
        elif "confirm" in cleaned and (refusal := clearing.flush_refusal(alias, cleaned["confirm"])):
            self.add_error("confirm", refusal[0].upper() + refusal[1:] + ".")
        return cleaned


class TickerListField(CanonicalListField):
    """Tickers, each canonical and a listed Stock."""

    invalid_message, noun, most = "Not tickers", "tickers", MAX_TICKERS

    def canonical(self, item):
        return normalize_ticker(item)

    def validate(self, value):
        super().validate(value)
        known = set(Stock.objects.filter(ticker__in=value).values_list("ticker", flat=True))
        if unknown := [ticker for ticker in value if ticker not in known]:
            raise ValidationError(f"Unknown stocks: {', '.join(unknown[:20])}.", code="unknown_stock")


class InvalidateStocksForm(forms.Form):
    tickers = TickerListField(help_text="Tickers whose cached data to delete, comma-separated.")


def _where(alias):
    """A Redis alias is cleared once, on the task worker; local memory in every web process that holds some."""
    return EVERY_WEB_PROCESS if clearing.in_local_memory(alias) else TASK_WORKER


def confirm_clear(cleaned):
    """Clearing an alias: which keys, where, how many (a dry run needs no confirmation)."""
    if cleaned["dry_run"]:
        return None
    alias, pattern = cleaned["alias"], cleaned["pattern"]
    scope = key_scope(caches[alias]).pattern(pattern or "*")
    consequence = "Scanner reads go to the database until the cache fills again; other aliases keep their keys."
    if clearing.in_local_memory(alias):  # each process keeps its own: the processes are listed by the spine
        return Confirmation(action=f"Delete the keys of {alias} matching {scope}", consequence=consequence)
    panel = cache_panel(alias)
    if panel.redis is None:
        return Confirmation(action=f"Delete the keys of {alias} matching {scope}", consequence=panel.error)
    keys = panel.redis.keys_under_prefix
    return Confirmation(
        action=f"Delete the keys of {alias} matching {scope} in Redis {panel.redis.server} db {panel.redis.db}",
        items=[f"{alias}: {panel.purpose}" if panel.purpose else alias],
        size="" if pattern or keys is None else f"{humanize.plural(keys, 'key')} under its prefix now",
        consequence=consequence,
    )


def confirm_flush(cleaned):
    """Flushing a Redis database: every kind of key in it with its count, other aliases' and no alias's; its
    number typed."""
    alias = cleaned["alias"]
    target = redis_target(caches[alias])
    action = f"Flush Redis database {target.db} at {target.address}: every key in it, not only {alias}'s"
    try:
        census = key_census(alias)
    except REDIS_ERRORS as error:
        return Confirmation(action=action, consequence=redis_problem(target, error), typed=str(target.db))
    _, components = neighbours(alias, {})
    counted = "estimated from a sample of " + humanize.count(census.sample) if census.estimated else "counted"
    return Confirmation(
        action=action,
        items=[f"{kind.label}: {humanize.plural(kind.keys, 'key')}" for kind in census.kinds]
        + [f"also kept there: {name}" for name in components],
        size=f"{humanize.plural(census.keys_in_db, 'key')} in database {census.db} ({counted})",
        consequence="FLUSHDB cannot be undone: everything listed above starts empty.",
        typed=str(target.db),
    )


CLEAR_CACHE = Write(
    "clear_cache",
    "Clear a cache alias",
    PERMISSION,
    ClearCacheForm,
    clearing.clear,
    target=ByArguments(lambda cleaned: _where(cleaned["alias"]), (TASK_WORKER, EVERY_WEB_PROCESS)),
    confirm=confirm_clear,
)
FLUSH_REDIS_DB = Write(
    "flush_redis_db",
    "Flush a Redis database",
    PERMISSION,
    FlushRedisForm,
    clearing.flush_database,
    target=HERE,
    confirm=confirm_flush,
)
INVALIDATE_STOCKS = Write(
    "invalidate_stocks",
    "Invalidate cached stock data",
    PERMISSION,
    InvalidateStocksForm,
    invalidate_stocks,
    # One scoped pass in Redis, here; local memory in every web process.
    target=ByArguments(
        lambda cleaned: EVERY_WEB_PROCESS if clearing.in_local_memory(STOCK_CACHE_ALIAS) else HERE,
        (HERE, EVERY_WEB_PROCESS),
    ),
)
INVALIDATE_SELECTED_STOCKS = ModelAction(
    name="invalidate_cached_data",
    model="stocks.Stock",
    write="invalidate_stocks",
    description="Invalidate cached data of selected stocks",
    arguments=lambda queryset: {"tickers": list(queryset.values_list("ticker", flat=True))},
)
