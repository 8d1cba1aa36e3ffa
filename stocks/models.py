"""The stock-scanner domain: listed stocks, their daily bars, and user memberships."""

from django.conf import settings
from django.db import models
from django.db.models.functions import Upper
from django.utils import timezone

from stocks.querysets import DailyBarQuerySet, OptimizedStockManager
from stocks.tickers import TICKER_MAX_LENGTH, validate_ticker

PRICE = {"max_digits": 14, "decimal_places": 4}
RATIO = {"max_digits": 12, "decimal_places": 4}


class Stock(models.Model):
    ticker = models.CharField(max_length=TICKER_MAX_LENGTH, unique=True, validators=[validate_ticker])
    name = models.CharField(max_length=200)
    exchange = models.CharField(max_length=32, blank=True)
    sector = models.CharField(max_length=64, blank=True)
    industry = models.CharField(max_length=128, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    market_cap = models.BigIntegerField(null=True, blank=True, help_text="In units of the currency.")
    last_price = models.DecimalField(null=True, blank=True, **PRICE)
    change_percent = models.DecimalField(
        null=True, blank=True, help_text="Change since the previous close, in %.", **RATIO
    )
    volume = models.BigIntegerField(null=True, blank=True)
    avg_volume_30d = models.BigIntegerField("30-day average volume", null=True, blank=True)
    pe_ratio = models.DecimalField("P/E", null=True, blank=True, **RATIO)
    dividend_yield = models.DecimalField(null=True, blank=True, help_text="In %.", **RATIO)
    week_52_high = models.DecimalField("52-week high", null=True, blank=True, **PRICE)
    week_52_low = models.DecimalField("52-week low", null=True, blank=True, **PRICE)
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OptimizedStockManager()

    class Meta:
        ordering = ["ticker"]
        constraints = [
            models.CheckConstraint(condition=models.Q(ticker=Upper("ticker")), name="stock_ticker_upper_case"),
        ]
        # Performance indexes, built by migration 0003. Each serves a query shape of
        # StockQuerySet; all are partial on is_active because the scanner never
        # looks at delisted stocks.
        indexes = [
            # screen(sectors=..., order_by="-market_cap"): the screener's default view.
            models.Index(
                fields=["sector", "-market_cap"], name="stock_sector_cap_idx", condition=models.Q(is_active=True)
            ),
            # screen(order_by="-volume", min_volume=...): the most-traded list.
            models.Index(fields=["-volume"], name="stock_active_volume_idx", condition=models.Q(is_active=True)),
            # top_movers(direction="up"|"down"): scanned forwards or backwards.
            models.Index(fields=["change_percent"], name="stock_movers_idx", condition=models.Q(is_active=True)),
        ]

    def __str__(self):
        return self.ticker


class DailyBar(models.Model):
    # No index of its own: dailybar_stock_date_idx leads with stock_id and serves
    # the foreign key's lookups and cascades too.
    stock = models.ForeignKey(Stock, on_delete=models.CASCADE, related_name="bars", db_index=False)
    date = models.DateField()
    open = models.DecimalField(**PRICE)
    high = models.DecimalField(**PRICE)
    low = models.DecimalField(**PRICE)
    close = models.DecimalField(**PRICE)
    volume = models.BigIntegerField()

    objects = DailyBarQuerySet.as_manager()

    class Meta:
        ordering = ["-date", "stock_id"]
        constraints = [
            # Date first: a day's load (one bar per stock) and cross-sectional reads
            # of one date walk this index in order.
            models.UniqueConstraint(fields=["date", "stock"], name="dailybar_one_per_stock_and_date"),
            models.CheckConstraint(condition=models.Q(low__lte=models.F("high")), name="dailybar_low_not_above_high"),
        ]
        indexes = [
            # DailyBar.objects.between(stock, start, end): one stock's history.
            models.Index(fields=["stock", "-date"], name="dailybar_stock_date_idx"),
        ]

    def __str__(self):
        # The ticker is the stock's name for people; the admin selects the stock with the bar.
        return f"{self.stock.ticker} {self.date}"


class Membership(models.Model):
    class Tier(models.TextChoices):
        FREE = "free", "Free"
        BASIC = "basic", "Basic"
        PRO = "pro", "Pro"
        ENTERPRISE = "enterprise", "Enterprise"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.FREE)
    valid_until = models.DateTimeField(null=True, blank=True, help_text="Empty means it does not expire.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.user} ({self.tier})"

    def effective_tier(self, now=None):
        """The tier that applies now: an expired membership falls back to free."""
        now = now or timezone.now()
        if self.valid_until is not None and self.valid_until <= now:
            return self.Tier.FREE
        return self.Tier(self.tier)
