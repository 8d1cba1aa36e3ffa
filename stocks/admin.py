"""Admin for the market data: change lists that stay fast at millions of rows (stocks/changelists.py).

The ops portal adds its own actions to these lists from its capabilities' declarations
(the caches capability's "invalidate cached data"); nothing here knows of it.
"""

import datetime

from django.contrib import admin
from django.contrib.admin.options import ActionLocation

from stocks import display, rate_limits
from stocks.changelists import LargeTableAdmin
from stocks.models import DailyBar, Membership, Stock
from stocks.tickers import TICKER_PATTERN


def ticker_prefix(search_term):
    """The upper-cased term when a ticker could start with it, else None.

    A case-sensitive prefix match on the upper-cased term is what the ticker's
    btree index (and its `varchar_pattern_ops` twin on PostgreSQL) can serve; a
    case-insensitive or infix match would scan the table.
    """
    term = search_term.strip().upper()
    return term if TICKER_PATTERN.match(term) else None


def iso_date(search_term):
    """The date the term spells (2026-11-27), else None."""
    try:
        return datetime.date.fromisoformat(search_term.strip())
    except ValueError:
        return None


@admin.register(Stock)
class StockAdmin(LargeTableAdmin):
    list_display = ("ticker", "name", "exchange", "sector", "price", "change", "traded", "size", "is_active")
    list_filter = ("is_active", "exchange", "sector")
    search_fields = ("ticker",)
    search_help_text = "Ticker prefix (e.g. AA), or words of the company name."
    ordering = ("ticker",)
    list_per_page = 50
    readonly_fields = ("updated_at",)

    @admin.display(description="Last price", ordering="last_price")
    def price(self, stock):
        return display.price(stock.last_price, stock.currency)

    @admin.display(description="Change", ordering="change_percent")
    def change(self, stock):
        return display.change(stock.change_percent)

    @admin.display(description="Volume", ordering="volume")
    def traded(self, stock):
        return display.volume(stock.volume)

    @admin.display(description="Market cap", ordering="market_cap")
    def size(self, stock):
        return display.market_cap(stock.market_cap, stock.currency)

    def get_actions(self, request, action_location=ActionLocation.CHANGE_LIST):
        """Without "Delete selected": its confirmation lists every bar of every stock selected.

        50 stocks are 12,500 bars on one page (about a second); "select all" a million.
        A stock is deleted from its own page, with its bars listed there.
        """
        actions = super().get_actions(request, action_location)
        actions.pop("delete_selected", None)
        return actions

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        prefix = ticker_prefix(term)
        if prefix is not None and queryset.filter(ticker__startswith=prefix).exists():
            return queryset.filter(ticker__startswith=prefix), False
        # Not a ticker, or no ticker starts with it: the company name. The stock
        # table is small (thousands of rows), so a scan of names is cheap.
        return queryset.filter(name__icontains=term), False


def _bar_price(field, title):
    """A bar's price column, in its stock's currency."""

    @admin.display(description=title)
    def column(self, bar):
        return display.price(getattr(bar, field), bar.stock.currency)

    return column


@admin.register(DailyBar)
class DailyBarAdmin(LargeTableAdmin):
    list_display = ("stock", "date", "opened", "highest", "lowest", "closed", "traded")
    # Sorting by a price or the volume would sort every bar: only the columns an index serves.
    sortable_by = ("stock", "date")
    ordering = ("-date", "-stock_id")
    # The (date, stock) unique constraint's index serves any order by date, either way.
    ordering_tiebreak = ("date", "stock_id")
    list_filter = ("date",)
    # "Show counts" would count every bar for each filter choice: a scan of the table.
    show_facets = admin.ShowFacets.NEVER
    search_fields = ("stock__ticker",)
    search_help_text = "Ticker prefix (AAPL) or a date (2026-11-27)."
    list_per_page = 100
    # Selecting "all 1,000,000" would lead to a delete confirmation listing every bar.
    list_disable_select_all = True
    raw_id_fields = ("stock",)

    opened = _bar_price("open", "Open")
    highest = _bar_price("high", "High")
    lowest = _bar_price("low", "Low")
    closed = _bar_price("close", "Close")

    @admin.display(description="Volume")
    def traded(self, bar):
        return display.volume(bar.volume)

    def get_queryset(self, request):
        """With the stock, whose ticker titles a bar: one join, not a query per bar (lists, change and delete pages)."""
        return super().get_queryset(request).select_related("stock")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        day = iso_date(term)
        if day is not None:
            return queryset.filter(date=day), False
        prefix = ticker_prefix(term)
        if prefix is None:
            return queryset.none(), False
        # The stocks' ids, not a join or a subquery: PostgreSQL then knows how many bars
        # they have, and counts and pages them along an index; for a subquery it guessed,
        # and counted the bars of "A" by scanning the table.
        stock_ids = list(Stock.objects.filter(ticker__startswith=prefix).values_list("pk", flat=True))
        return queryset.filter(stock_id__in=stock_ids), False


def usage_text(usage, per_process=False):
    """ "12 / 60 a minute · 340 / 5,000 a day": what a caller has used of each window; a dash when nothing."""
    if not usage.enforced:
        return "unknown: rate-limit storage unreachable"
    if not any(usage.used.values()):
        return "—"
    text = " · ".join(f"{usage.used[window]:,} / {limit:,} a {window}" for window, limit in usage.limits.items())
    return f"{text} (this process)" if per_process else text


@admin.register(Membership)
class MembershipAdmin(LargeTableAdmin):
    list_display = ("user", "tier", "valid_until", "current_tier", "usage")
    list_filter = ("tier",)
    list_select_related = ("user",)
    search_fields = ("user__username", "user__email")
    autocomplete_fields = ("user",)

    @admin.display(description="Tier now")
    def current_tier(self, membership):
        return membership.effective_tier().label

    @admin.display(description="Rate limits used")
    def usage(self, membership):
        """This member's counters now, at its current tier (peeked: showing them counts nothing)."""
        return usage_text(rate_limits.peek(rate_limits.member_identity(membership)), rate_limits.per_process())
