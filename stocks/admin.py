"""Admin for the market data: fast change lists at millions of rows.

The ops portal adds its own actions to these lists from its capabilities' declarations
(the caches capability's "invalidate cached data"); nothing here knows of it.
"""

from django.contrib import admin
from unfold.admin import ModelAdmin

from stocks.models import DailyBar, Membership, Stock
from stocks.pagination import EstimatedCountPaginator
from stocks.tickers import TICKER_PATTERN


def ticker_prefix_filter(queryset, search_term, ticker_lookup):
    """Filter by ticker prefix, or None when the term cannot be a ticker.

    A case-sensitive prefix match on the upper-cased term is what the ticker's
    btree index (and its `varchar_pattern_ops` twin on PostgreSQL) can serve; a
    case-insensitive or infix match would scan the table.
    """
    term = search_term.strip().upper()
    if not TICKER_PATTERN.match(term):
        return None
    return queryset.filter(**{f"{ticker_lookup}__startswith": term})


@admin.register(Stock)
class StockAdmin(ModelAdmin):
    list_display = (
        "ticker",
        "name",
        "exchange",
        "sector",
        "last_price",
        "change_percent",
        "volume",
        "market_cap",
        "is_active",
    )
    list_filter = ("is_active", "exchange", "sector")
    search_fields = ("ticker",)
    search_help_text = "Ticker prefix (e.g. AA), or words of the company name."
    ordering = ("ticker",)
    list_per_page = 50
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    readonly_fields = ("updated_at",)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        by_ticker = ticker_prefix_filter(queryset, term, "ticker")
        if by_ticker is not None and by_ticker.exists():
            return by_ticker, False
        # Not a ticker, or no ticker starts with it: the company name. The stock
        # table is small (thousands of rows), so a scan of names is cheap.
        return queryset.filter(name__icontains=term), False


@admin.register(DailyBar)
class DailyBarAdmin(ModelAdmin):
    list_display = ("stock", "date", "open", "high", "low", "close", "volume")
    list_select_related = ("stock",)
    search_fields = ("stock__ticker",)
    search_help_text = "Ticker prefix, e.g. AAPL."
    # Both keys of the (date, stock) unique constraint: a total ordering the
    # constraint's index serves read backwards, so Django adds no `-pk`.
    ordering = ("-date", "-stock_id")
    list_per_page = 100
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    raw_id_fields = ("stock",)

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        by_ticker = ticker_prefix_filter(queryset, search_term, "stock__ticker")
        return (queryset.none() if by_ticker is None else by_ticker), False


@admin.register(Membership)
class MembershipAdmin(ModelAdmin):
    list_display = ("user", "tier", "valid_until", "current_tier")
    list_filter = ("tier",)
    list_select_related = ("user",)
    search_fields = ("user__username", "user__email")
    autocomplete_fields = ("user",)

    @admin.display(description="Tier now")
    def current_tier(self, membership):
        return membership.effective_tier().label
