"""How long the database analysis and its page take on a database with 1,000 more indexes: median of five runs.

    DATABASE_URL=postgres://... .venv/bin/python bench/indexes_analysis.py [--indexes 1000] [--tables 50] [--runs 5]

Without DATABASE_URL it starts a throwaway PostgreSQL (tests/services.py) and migrates it.
The extra indexes live on scratch tables named bench_analysis_scratch_*, dropped again at
the end. The target is under a second for `analyze_database()` and the page's
`page_context()` at this size, with one catalog query per section whatever the number of
indexes. Prints the median, the extremes, the SQL statements one run sends (and how many
of them are the index catalog query, read once per analysis); never asserts.
"""

import argparse
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRATCH = "bench_analysis_scratch"
COLUMNS = 20
INDEX_CATALOG_QUERY = "pg_stat_progress_create_index"  # only catalog.index_rows() reads it


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--indexes", type=int, default=1000, help="extra indexes to create")
    parser.add_argument("--tables", type=int, default=50, help="scratch tables to spread them over")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from bench.common import BENCH_SECRET_KEY

    os.environ.setdefault("SECRET_KEY", BENCH_SECRET_KEY)
    with contextlib.ExitStack() as stack:
        if not os.environ.get("DATABASE_URL"):
            os.environ["DATABASE_URL"] = stack.enter_context(throwaway_postgres())
        run(args)


def throwaway_postgres():
    try:
        from tests.services import throwaway_postgres
    except ImportError as error:
        sys.exit(f"Set DATABASE_URL to a PostgreSQL database (no throwaway server available: {error}).")
    print("DATABASE_URL not set: starting a throwaway PostgreSQL", flush=True)
    return throwaway_postgres()


def run(args):
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "postgresql":
        sys.exit(f"This benchmark needs PostgreSQL; DATABASE_URL points at {connection.vendor}.")
    call_command("migrate", verbosity=0)
    tables = [f"{SCRATCH}_{number:03d}" for number in range(args.tables)]
    try:
        started = time.perf_counter()
        create_scratch(connection, tables, args.indexes)
        print(
            f"created {args.indexes:,} indexes on {len(tables)} scratch tables in {time.perf_counter() - started:.1f} s"
        )
        measure(connection, args.runs)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("".join(f"DROP TABLE IF EXISTS {table};" for table in tables))


def create_scratch(connection, tables, count):
    """Tables of COLUMNS integer columns; one-column indexes, then two-column ones that cover none of them."""
    columns = ", ".join(f"c{number} integer" for number in range(COLUMNS))
    statements = [
        f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id serial PRIMARY KEY, {columns});" for table in tables
    ]
    shapes = [(f"c{number}",) for number in range(COLUMNS // 2)]
    shapes += [(f"c{COLUMNS // 2 + number}", f"c{number}") for number in range(COLUMNS // 2)]
    for number in range(count):
        table = tables[number % len(tables)]
        shape = shapes[number // len(tables) % len(shapes)]
        suffix = number // (len(tables) * len(shapes)) or ""  # only when there are more indexes than shapes
        statements.append(f"CREATE INDEX {table}_{'_'.join(shape)}{suffix}_idx ON {table} ({', '.join(shape)});")
    with connection.cursor() as cursor:
        cursor.execute("".join(statements))
        cursor.execute(f"ANALYZE {', '.join(tables)}")


def measure(connection, runs):
    from django.test.utils import CaptureQueriesContext

    from opsadmin.operations.database.analysis import analyze_database, index_health
    from opsadmin.operations.database.sections import page_context

    measured = (
        ("analyze_database()", analyze_database),
        ("page_context()", page_context),  # what the Database page reads and prepares
        ("index_health()", index_health),
    )
    for label, function in measured:
        seconds, queries = [], None
        for _ in range(runs):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                result = function()
                seconds.append(time.perf_counter() - started)
            queries = captured.captured_queries
        catalog_reads = sum(INDEX_CATALOG_QUERY in query["sql"] for query in queries)
        print(
            f"\n{label}: median {statistics.median(seconds) * 1000:.0f} ms over {runs} runs "
            f"(min {min(seconds) * 1000:.0f}, max {max(seconds) * 1000:.0f}), {len(queries)} SQL statements, "
            f"the index catalog query {catalog_reads} time{'s' if catalog_reads != 1 else ''}"
        )
        if label == "analyze_database()":
            print(f"  {len(result.indexes):,} indexes, {len(result.tables):,} tables; {result.summary}")
        for query in sorted(queries, key=lambda query: -float(query["time"]))[:3]:
            print(f"  {float(query['time']) * 1000:6.1f} ms  {' '.join(query['sql'].split())[:100]}")


if __name__ == "__main__":
    main()
