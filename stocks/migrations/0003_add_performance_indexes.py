"""The scanner's performance indexes, built without blocking writes on PostgreSQL.

Each index is declared in the models' Meta.indexes (so drift detection knows it) and
serves one query shape of stocks.querysets.StockQuerySet, named beside it.
Non-atomic: CREATE INDEX CONCURRENTLY cannot run inside a transaction. If a build
fails, PostgreSQL leaves an INVALID index behind and running the migration again fails
on it ("already exists"): docs/deployment.md says how to recover (drop the indexes
concurrently and migrate again, or build them with `optimize_database` and fake it).
"""

from django.db import migrations, models

from stocks.index_operations import AddIndexConcurrentlyWhereSupported


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("stocks", "0002_membership")]

    operations = [
        # StockQuerySet.screen(sectors=..., order_by="-market_cap")
        AddIndexConcurrentlyWhereSupported(
            model_name="stock",
            index=models.Index(
                condition=models.Q(("is_active", True)), fields=["sector", "-market_cap"], name="stock_sector_cap_idx"
            ),
        ),
        # StockQuerySet.screen(order_by="-volume", min_volume=...)
        AddIndexConcurrentlyWhereSupported(
            model_name="stock",
            index=models.Index(condition=models.Q(("is_active", True)), fields=["-volume"], name="stock_active_volume_idx"),
        ),
        # StockQuerySet.top_movers(direction="up" | "down")
        AddIndexConcurrentlyWhereSupported(
            model_name="stock",
            index=models.Index(condition=models.Q(("is_active", True)), fields=["change_percent"], name="stock_movers_idx"),
        ),
        # DailyBar.objects.between(stock, start, end); also the foreign key's lookups
        AddIndexConcurrentlyWhereSupported(
            model_name="dailybar",
            index=models.Index(fields=["stock", "-date"], name="dailybar_stock_date_idx"),
        ),
    ]
