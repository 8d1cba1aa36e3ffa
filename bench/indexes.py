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
import statistics
import time

from common import django_on_postgres


def shapes():
    """(name, callable running the shape to completion) for every query shape."""
    from stocks.models import Stock

    stock = Stock.objects.active().order_by("ticker")[500]
    end = datetime.date(2026, 11, 27)
    return [
        ("active()[:50]", lambda: list(Stock.objects.active()[:50])),
        ("list_rows()[:50]", lambda: list(Stock.objects.list_rows()[:50])),
        ("screen(sectors, -market_cap)", lambda: list(Stock.objects.screen(sectors=["Energy"], limit=50))),
        ("screen(-volume, min_volume)", lambda: list(Stock.objects.screen(order_by="-volume", min_volume=1))),
        ("top_movers(up)", lambda: list(Stock.objects.top_movers(limit=10))),
        ("top_movers(down)", lambda: list(Stock.objects.top_movers(limit=10, direction="down"))),
        (
            "bars_between(1 month)",
            lambda: list(Stock.objects.bars_between(stock, end - datetime.timedelta(days=30), end)),
        ),
        ("export_rows() (all)", lambda: sum(1 for _ in Stock.objects.export_rows())),
    ]


def median_ms(run, repeats):
    run()  # warm the cache and the connection
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings) * 1000


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
        before = {name: median_ms(run, args.repeats) for name, run in shapes()}
        call_command("optimize_database", verbosity=0)
        vacuum_analyze(connection)
        after = {name: median_ms(run, args.repeats) for name, run in shapes()}
    print(f"\n{'shape':<32}{'before ms':>11}{'after ms':>10}{'ratio':>9}")
    for name, before_ms in before.items():
        print(f"{name:<32}{before_ms:>11.3f}{after[name]:>10.3f}{before_ms / after[name]:>8.1f}x")


if __name__ == "__main__":
    main()
