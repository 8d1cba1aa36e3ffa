"""The market-data change lists at a million daily bars: every kind of page a click reaches, timed; never asserts.

    .venv/bin/python bench/admin_lists.py [--stocks 4000 --days 250] [--members 10000] [--repeats 5]
                                          [--layout stock|date]

Uses DATABASE_URL (its stocks, bars and users are REPLACED) or a throwaway PostgreSQL. Seeds
with seed_stocks (its rate is printed), adds `--members` users with memberships, VACUUM
ANALYZEs, then GETs each page through Django's test client as a logged-in superuser: the
whole request in this process, middleware, queries and template rendering. `--layout date`
first CLUSTERs the bars on the (date, stock) index, as daily loads lay a table out;
seed_stocks writes them stock by stock, the worse layout for pages in date order.

The pages come from the lists themselves: the sort orders their headers offer (every
combination of the daily bars' two sortable columns, each other list's columns one at a
time), for each the first, second, middle and last page its footer links to; every filter
choice and a few searches, first and last page; "Show all" wherever a page offers it.
Prints, per list and kind of page, the median of the pages' medians and the slowest page,
against the 300 ms budget. Then, side by side, the daily bars list as it was before
(bench/urls.py: any column sortable, every page linked): sorting by a price, the volume,
and the middle and last of its pages.
"""

import argparse
import datetime
import itertools
import math
import os
import re
import statistics
import time
from html import unescape

from common import django_on_postgres

BUDGET_MS = 300
BARS, STOCKS, MEMBERS = "/admin/stocks/dailybar/", "/admin/stocks/stock/", "/admin/stocks/membership/"
BEFORE_BARS = "/bench/before-admin/stocks/dailybar/"
LIST_PARAMETERS = {"o", "p", "q", "all"}  # any other parameter in a list's link is a filter's
LINK = re.compile(r'href="(\?[^"]*)"')
SHOW_ALL = re.compile(r'<a href="(\?[^"]*)" class="showall')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stocks", type=int, default=4000)
    parser.add_argument("--days", type=int, default=250)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--layout", choices=("stock", "date"), default="stock")
    args = parser.parse_args()
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"  # bench/urls.py: the list as it was, beside
    with django_on_postgres() as connection:
        prepare(args, connection)
        client = logged_in_client()
        bench = Bench(client, connection, args.repeats)
        last_date, middle_ticker = sample_values()
        print(f"\nmedian of {args.repeats} requests per page, after one; budget {BUDGET_MS} ms", flush=True)
        now = [
            bench.list_pages("Daily bars", BARS, combinations=True, searches=["A", middle_ticker, last_date, "ZZZZZ"]),
            bench.list_pages("Stocks", STOCKS, searches=["A", "energy"]),
            bench.list_pages("Memberships", MEMBERS, searches=["member1", "example.org"]),
            bench.object_pages(),
        ]
        summarize(now, bench.before(args.repeats))


def prepare(args, connection):
    from stocks.seeding import seed_stocks

    version = connection.pg_version // 10000
    print(f"PostgreSQL {version}; seeding {args.stocks:,} stocks x {args.days:,} days", flush=True)
    report = seed_stocks(stocks=args.stocks, days=args.days, seed=1, replace=True)
    print(
        f"seed_stocks: {report.bars:,} daily bars in {report.seconds:.1f} s, {report.bars_per_second:,.0f} bars/s "
        f"({report.method}, ANALYZE included)",
        flush=True,
    )
    make_members(args.members)
    with connection.cursor() as cursor:
        if args.layout == "date":
            started = time.perf_counter()
            cursor.execute("CLUSTER stocks_dailybar USING dailybar_one_per_stock_and_date")
            print(f"CLUSTER on (date, stock): {time.perf_counter() - started:.1f} s", flush=True)
        for table in ("stocks_stock", "stocks_dailybar", "auth_user", "stocks_membership"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")


def make_members(count):
    """`count` users with a membership each, tiers and expiry dates in turn; no password hashing."""
    from django.contrib.auth.models import User
    from django.utils import timezone

    from stocks.models import Membership

    Membership.objects.all().delete()
    User.objects.filter(username__startswith="member").delete()
    users = User.objects.bulk_create(
        User(username=f"member{number}", email=f"member{number}@example.org", password="!") for number in range(count)
    )
    tiers = list(Membership.Tier)
    now = timezone.now()
    Membership.objects.bulk_create(
        Membership(
            user=user,
            tier=tiers[number % len(tiers)],
            valid_until=None if number % 3 else now + datetime.timedelta(days=number % 400 - 200),
        )
        for number, user in enumerate(users)
    )
    print(f"{count:,} users with memberships", flush=True)


def logged_in_client():
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.test import Client, override_settings

    # Plain static files: the manifest storage of DEBUG=0 needs collectstatic first.
    plain = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    override_settings(STORAGES={**settings.STORAGES, "staticfiles": plain}).enable()
    user = User.objects.filter(username="bench").first() or User.objects.create_superuser("bench", password=None)
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client


def sample_values():
    """The last trading day, and the ticker in the middle of the list."""
    from stocks.models import DailyBar, Stock

    tickers = Stock.objects.order_by("ticker").values_list("ticker", flat=True)
    return DailyBar.objects.latest("date").date.isoformat(), tickers[tickers.count() // 2]


class Bench:
    def __init__(self, client, connection, repeats):
        self.client, self.connection, self.repeats = client, connection, repeats

    def get(self, url, repeats=None):
        """(median ms, median ms in the database, html) of GETs of `url`, after one more."""
        totals, in_database = [], []
        sql = [0.0]

        def timed(execute, statement, params, many, context):
            started = time.perf_counter()
            try:
                return execute(statement, params, many, context)
            finally:
                sql[0] += time.perf_counter() - started

        response = self.client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"GET {url}: {response.status_code} {response.get('Location', '')}")
        with self.connection.execute_wrapper(timed):
            for _ in range(repeats or self.repeats):
                sql[0] = 0.0
                started = time.perf_counter()
                self.client.get(url)
                totals.append((time.perf_counter() - started) * 1000)
                in_database.append(sql[0] * 1000)
        return statistics.median(totals), statistics.median(in_database), response.content.decode()

    def list_pages(self, title, base, *, searches, combinations=False):
        kinds, seen, show_all = {}, set(), []

        def measure(kind, query):
            url = base + query
            if url in seen:
                return None
            seen.add(url)
            total, database, html = self.get(url)
            kinds.setdefault(kind, []).append((total, database, query or "(the list as opened)"))
            show_all.extend(unescape(link) for link in SHOW_ALL.findall(html))
            return html

        first = measure("sort", "")
        columns = sortable_columns(first)
        for ordering in [None, *orderings(columns, combinations)]:
            query = f"?o={ordering}" if ordering else ""
            html = measure("sort", query) or first
            for number in deep_pages(html):
                measure("page", with_param(query, "p", number))
        for filter_query in filter_links(first):
            for ordering in (None, f"{columns[0]}"):
                query = with_param(filter_query, "o", ordering) if ordering else filter_query
                html = measure("filter", query)
                for number in deep_pages(html)[-1:]:
                    measure("filter", with_param(query, "p", number))
        for term in searches:
            for ordering in [None, *(str(column) for column in columns), *(f"-{column}" for column in columns)]:
                query = f"?q={term}" + (f"&o={ordering}" if ordering else "")
                html = measure("search", query)
                for number in deep_pages(html)[-1:]:
                    measure("search", with_param(query, "p", number))
        for query in list(show_all):
            measure("show all", query)
        return report(title, kinds)

    def object_pages(self):
        from stocks.models import DailyBar, Stock

        bar = DailyBar.objects.order_by("-date", "stock_id").first()
        stock = Stock.objects.order_by("ticker").first()
        kinds = {"object": []}
        for url in (
            f"{BARS}{bar.pk}/change/",
            f"{BARS}{bar.pk}/delete/",
            f"{STOCKS}{stock.pk}/change/",
            f"{STOCKS}{stock.pk}/delete/",
            f"{STOCKS}?_popup=1&_to_field=id",  # the bar's raw-id lookup of its stock
        ):
            total, database, _ = self.get(url)
            kinds["object"].append((total, database, url))
        return report("Change, delete and lookup pages", kinds)

    def before(self, repeats):
        """The list as it was: sorted by each price and the volume, the middle and the last page."""
        kinds = {}
        _, _, html = self.get(BEFORE_BARS, repeats=1)
        last = max(int(number) for number in re.findall(r"[?&]p=(\d+)", html))
        for column in (3, 4, 5, 6, 7):
            for sign in ("", "-"):
                total, database, _ = self.get(f"{BEFORE_BARS}?o={sign}{column}", repeats=min(repeats, 3))
                kinds.setdefault("sort by a price or the volume", []).append((total, database, f"?o={sign}{column}"))
        for number in (math.ceil(last / 2), last):
            total, database, _ = self.get(f"{BEFORE_BARS}?p={number}", repeats=min(repeats, 3))
            kinds.setdefault("middle and last page", []).append((total, database, f"?p={number:,}"))
        return report(f"Daily bars as they were (bench/urls.py), side by side: {last:,} pages linked", kinds)


def sortable_columns(html):
    """The column numbers whose headers link to a sort, in order."""
    head = html[html.find("<thead") : html.find("</thead>")]
    values = [value for query in links(head) for value in re.findall(r"(?:^\?|&)o=([-\d.]*)", query)]
    return sorted({int(key.lstrip("-")) for value in values for key in value.split(".") if key})


def orderings(columns, combinations):
    """`?o=` values: each column both ways; with `combinations`, every order of any number of them."""
    if not combinations:
        return [f"{sign}{column}" for column in columns for sign in ("", "-")]
    found = []
    for size in range(1, len(columns) + 1):
        for chosen in itertools.permutations(columns, size):
            for signs in itertools.product(("", "-"), repeat=size):
                found.append(".".join(f"{sign}{column}" for sign, column in zip(signs, chosen, strict=True)))
    return found


def links(html):
    return [unescape(link) for link in LINK.findall(html)]


def deep_pages(html):
    """Page 2, the middle page and the last one the footer links to (pages are numbered from 1)."""
    numbers = [int(number) for query in links(html) for number in re.findall(r"(?:^\?|&)p=(\d+)", query)]
    if not numbers:
        return []
    last = max(numbers)
    return sorted({2, max(2, math.ceil(last / 2)), last})


def filter_links(html):
    """The filter choices' links: a parameter that is not the list's own."""
    found = []
    for query in links(html):
        names = {pair.split("=")[0] for pair in query[1:].split("&") if pair}
        if names - LIST_PARAMETERS and query not in found:
            found.append(query)
    return found


def with_param(query, name, value):
    pairs = [pair for pair in query.lstrip("?").split("&") if pair and not pair.startswith(f"{name}=")]
    return "?" + "&".join([*pairs, f"{name}={value}"])


def report(title, kinds):
    print(f"\n{title}")
    print(f"  {'kind':<32}{'pages':>6}{'median':>10}{'slowest':>10}{'of it SQL':>11}  slowest page")
    for kind, pages in kinds.items():
        slowest = max(pages)
        verdict = "" if slowest[0] < BUDGET_MS else "  OVER BUDGET"
        print(
            f"  {kind:<32}{len(pages):>6}{statistics.median(page[0] for page in pages):>7.0f} ms"
            f"{slowest[0]:>7.0f} ms{slowest[1]:>8.0f} ms  {slowest[2]}{verdict}",
            flush=True,
        )
    return title, kinds


def summarize(now, before):
    """Every page measured now against the pages of the list as it was: medians, the slowest, their ratio."""
    pages_now = [
        (total, database, f"{title}: {label}")
        for title, kinds in now
        for pages in kinds.values()
        for total, database, label in pages
    ]
    pages_before = [page for pages in before[1].values() for page in pages]
    slowest_now, slowest_before = max(pages_now), max(pages_before)
    verdict = "under" if slowest_now[0] < BUDGET_MS else "OVER"
    print(
        f"\n{len(pages_now):,} pages a click reaches: median {statistics.median(p[0] for p in pages_now):.0f} ms, "
        f"slowest {slowest_now[0]:.0f} ms ({slowest_now[2]}): {verdict} the {BUDGET_MS} ms budget"
    )
    print(
        f"the daily bars as they were, {len(pages_before)} pages: median "
        f"{statistics.median(p[0] for p in pages_before):,.0f} ms, slowest {slowest_before[0]:,.0f} ms "
        f"({slowest_before[2]}): {slowest_before[0] / slowest_now[0]:.1f}x the slowest now"
    )


if __name__ == "__main__":
    main()
