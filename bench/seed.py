"""How fast seed_stocks writes daily bars into PostgreSQL: the median of three runs, printed.

    DATABASE_URL=postgres://... .venv/bin/python bench/seed.py [--stocks 4000 --days 250] [--runs 3]

Without DATABASE_URL it starts a throwaway PostgreSQL (tests/services.py) and migrates it.
Every run replaces the stocks in the database: never point it at data you want to keep.
Prints, never asserts: timings depend on the machine.
"""

import argparse
import statistics

from common import django_on_postgres


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stocks", type=int, default=4000)
    parser.add_argument("--days", type=int, default=250)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with django_on_postgres() as connection:
        run(args, connection)


def run(args, connection):
    from stocks.seeding import seed_stocks

    print(
        f"PostgreSQL {connection.pg_version // 10000}, {args.stocks:,} stocks x {args.days:,} days "
        f"= {args.stocks * args.days:,} bars, {args.runs} runs"
    )
    rates = []
    for number in range(1, args.runs + 1):
        report = seed_stocks(stocks=args.stocks, days=args.days, seed=args.seed, replace=True)
        rates.append(report.bars_per_second)
        print(f"  run {number}: {report.seconds:6.2f} s  {report.bars_per_second:>10,.0f} bars/s  ({report.method})")
    print(f"median: {statistics.median(rates):,.0f} bars/s")


if __name__ == "__main__":
    main()
