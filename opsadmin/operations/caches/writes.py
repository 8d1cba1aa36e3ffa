"""The cache writes, declared once for the admin, the JSON API and the command line.

The forms check everything that needs no Redis round trip: the alias exists and can be
cleared by prefix, the pattern is a glob we accept, the typed database number is the
alias's, the tickers are listed stocks. So every door gives the same error before anything
runs. Clearing an alias can take a while on a big database, so it runs on the task worker;
a flush is one FLUSHDB ASYNC and an invalidation is one pass, so those run in place.
"""

from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import ValidationError

from opsadmin.operations.caches import clearing
from opsadmin.operations.caches.inventory import backend_path, redis_target
from opsadmin.operations.declaration import declare_write
from stocks.cache_invalidation import invalidate_stocks as invalidate_cached_stocks
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
                clearing.validate_glob(pattern)
            except clearing.InvalidPattern as error:
                raise ValidationError(str(error), code="invalid_pattern") from None
        return pattern


class FlushRedisForm(forms.Form):
    alias = forms.ChoiceField(choices=_alias_choices, help_text="A Redis cache alias: its whole database is flushed.")
    confirm = forms.CharField(help_text="Type the Redis database number to confirm.")

    def clean(self):
        cleaned = super().clean()
        alias = cleaned.get("alias")
        if alias is None:
            return cleaned
        target = redis_target(caches[alias])
        if target is None:
            backend = backend_path(alias)
            self.add_error("alias", f"{alias} is not a Redis cache ({backend}): there is no database to flush.")
        elif "confirm" in cleaned and cleaned["confirm"].strip() != str(target.db):
            where = f"db {target.db} of {target.address}"
            self.add_error("confirm", f"Type the database number, {target.db}, to flush {where}.")
        return cleaned


class TickerListField(forms.Field):
    """Tickers as a list, repeated values or one comma-separated string; each canonical and a listed Stock."""

    widget = forms.TextInput
    takes_a_list = True  # also from JSON and the command line, as well as one comma-separated string

    def to_python(self, value):
        if value in self.empty_values:
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple):
            raise ValidationError("Enter a list of tickers.", code="invalid_list")
        raw = [part.strip() for item in value for part in str(item).split(",") if part.strip()]
        tickers, bad = [], []
        for item in raw:
            try:
                tickers.append(normalize_ticker(item))
            except ValidationError:
                bad.append(item)
        if bad:
            raise ValidationError(f"Not tickers: {', '.join(bad[:20])}.", code="invalid_ticker")
        return list(dict.fromkeys(tickers))

    def validate(self, value):
        super().validate(value)
        if len(value) > MAX_TICKERS:
            raise ValidationError(f"At most {MAX_TICKERS} tickers at a time.", code="too_many")
        known = set(Stock.objects.filter(ticker__in=value).values_list("ticker", flat=True))
        if unknown := [ticker for ticker in value if ticker not in known]:
            raise ValidationError(f"Unknown stocks: {', '.join(unknown[:20])}.", code="unknown_stock")


class InvalidateStocksForm(forms.Form):
    tickers = TickerListField(help_text="Tickers whose cached data to delete, comma-separated.")


@dataclass
class InvalidateReport:
    tickers: list[str]
    entries_removed: int
    summary: str


@declare_write(
    "clear_cache",
    title="Clear a cache alias",
    permission=PERMISSION,
    form_class=ClearCacheForm,
    # Local memory is per process: a task worker would clear its own, not the web process's.
    long_running=lambda cleaned: not clearing.runs_in_process(cleaned["alias"]),
)
def clear_cache(*, alias, pattern, dry_run, actor, progress):
    """One alias's keys, or those matching a pattern inside it; never FLUSHDB."""
    if pattern:
        return clearing.clear_pattern(alias, pattern, dry_run=dry_run, progress=progress)
    return clearing.clear_alias(alias, dry_run=dry_run, progress=progress)


@declare_write("flush_redis_db", title="Flush a Redis database", permission=PERMISSION, form_class=FlushRedisForm)
def flush_redis_db(*, alias, confirm, actor, progress):
    """Everything in the alias's Redis database, other aliases and components included (the page lists them)."""
    return clearing.flush_database(alias, confirm)


@declare_write(
    "invalidate_stocks", title="Invalidate cached stock data", permission=PERMISSION, form_class=InvalidateStocksForm
)
def invalidate_stocks(*, tickers, actor, progress):
    """Every cached entry of the selected stocks (all kinds), in the stock cache alias only."""
    removed = invalidate_cached_stocks(tickers)
    shown = ", ".join(tickers[:10]) + (f" and {len(tickers) - 10} more" if len(tickers) > 10 else "")
    return InvalidateReport(tickers, removed, f"Removed {removed:,} cached entries of {shown}.")
