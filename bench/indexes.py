"""Every query shape of OptimizedStockManager, before the performance indexes exist and after
`optimize_database` creates them: medians and ratios, printed side by side; never asserts.

    .venv/bin/python bench/indexes.py [--stocks 10000 --days 100] [--repeats 30]

Uses DATABASE_URL (its stocks are REPLACED) or a throwaway PostgreSQL. The "before" state
drops the indexes that the models declare in Meta.indexes (migration 0003); "after" is
what `optimize_database` builds from the same declarations. Both states are VACUUM
ANALYZEd first, so the planner has the same statistics.
"""

import argparse
import datetime
import re
import statistics
import time

from common import django_on_postgres


def shapes():
    """(name, queryset) for every query shape; the queryset is what the shape sends to the database."""
    from stocks.models import DailyBar, Stock

    active = Stock.objects.active().order_by("ticker")
    stock = active[active.count() // 2]  # a stock from the middle of the list
    end = datetime.date(2026, 11, 27)
    return [
        ("active()[:50]", Stock.objects.active()[:50]),
        ("list_rows()[:50]", Stock.objects.list_rows()[:50]),
        ("screen(sectors, -market_cap)", Stock.objects.screen(sectors=["Energy"], limit=50)),
        ("screen(-volume, min_volume)", Stock.objects.screen(order_by="-volume", min_volume=1)),
        ("top_movers(up)", Stock.objects.top_movers(limit=10)),
        ("top_movers(down)", Stock.objects.top_movers(limit=10, direction="down")),
        ("DailyBar.between(1 month)", DailyBar.objects.between(stock, end - datetime.timedelta(days=30), end)),
        ("export_rows() (all)", Stock.objects.active().order_by("ticker")),  # what export_rows() iterates
    ]


EXECUTION_TIME = re.compile(r"Execution Time: ([0-9.]+) ms")


def measure(queryset, repeats):
    """Median milliseconds: in the database (EXPLAIN ANALYZE), and in the application (ORM, rows built)."""
    list(queryset.all())  # warm the cache and the connection
    database, application = [], []
    for _ in range(repeats):
        database.append(float(EXECUTION_TIME.search(queryset.explain(analyze=True)).group(1)))
        start = time.perf_counter()
        list(queryset.all())
        application.append((time.perf_counter() - start) * 1000)
    return statistics.median(database), statistics.median(application)


def vacuum_analyze(connection):
    from stocks.models import DailyBar, Stock

    with connection.cursor() as cursor:
        for model in (Stock, DailyBar):
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(model._meta.db_table)}")


def drop_performance_indexes(connection):
    from stocks.models import DailyBar, Stock

    with connection.cursor() as cursor:
        for model in (Stock, DailyBar):
            for index in model._meta.indexes:
                cursor.execute(f"DROP INDEX IF EXISTS {connection.ops.quote_name(index.name)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stocks", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    with django_on_postgres() as connection:
        from django.core.management import call_command

        from stocks.seeding import seed_stocks

        report = seed_stocks(stocks=args.stocks, days=args.days, seed=7, replace=True)
        print(f"{report.stocks:,} stocks, {report.bars:,} daily bars; median of {args.repeats} runs per shape")
        drop_performance_indexes(connection)
        vacuum_analyze(connection)
        before = {name: measure(queryset, args.repeats) for name, queryset in shapes()}
        call_command("optimize_database", verbosity=0)
        vacuum_analyze(connection)
        after = {name: measure(queryset, args.repeats) for name, queryset in shapes()}
    print("\nmedian ms; database = EXPLAIN ANALYZE execution time, application = the ORM query with its rows")
    header = ("shape", "database before", "after", "ratio", "application before", "after", "ratio")
    print("{:<30}{:>16}{:>8}{:>8}{:>20}{:>8}{:>8}".format(*header))
    for name, (db_before, app_before) in before.items():
        db_after, app_after = after[name]
        print(
            f"{name:<30}{db_before:>16.3f}{db_after:>8.3f}{db_before / db_after:>7.1f}x"
            f"{app_before:>20.3f}{app_after:>8.3f}{app_before / app_after:>7.1f}x"
        )


if __name__ == "__main__":
    main()
