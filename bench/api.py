"""The scanner API's screen under load, against the same query served plainly, and its compression; never asserts.

    .venv/bin/python bench/api.py [--stocks 4000 --days 250] [--seconds 5] [--rounds 3] [--connections 16]
                                  [--limit 100]

Starts a throwaway PostgreSQL and Redis (tests/services.py), migrates, seeds `--stocks` x `--days`
daily bars (1,000,000 by default) and serves the portal with its production gunicorn configuration
(2 workers x 4 threads) and bench/settings.py, its cache on that Redis. The load is `wrk` (apt-get
install wrk) on keep-alive connections, each request with a scanner token of an enterprise member
whose limits are raised out of the way (PORTAL_RATE_LIMIT_ENTERPRISE) and with
`Accept-Encoding: gzip, br`, as a client sends it. The screen is `--limit` rows, every field.
Targets, measured in turn round after round, each shown by its median round:

  baseline     /bench/plain-screen/ (bench/urls.py): the same query in a plain view, no cache;
  API cold     /api/stocks/, each request a screen never asked before (a max_market_cap above every
               stock's, new each time: the same rows, a new cache key): the query, then the cache fill;
  API warm     /api/stocks/, the same screen again and again: from the cache;
  API warm, identity   the same without Accept-Encoding: what compressing costs.

Prints requests per second, p50 and p95, and the ratios to the baseline; then the bytes of one
screen as it is, in gzip and in brotli, and the ratios (target: at most 0.2).
"""

import argparse
import gzip
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from http.client import HTTPConnection

import brotli
from common import portal_on_throwaway_servers

WORKERS, THREADS = 2, 4
ABOVE_EVERY_MARKET_CAP = 10**15  # max_market_cap from here up keeps every row and makes a new cache key
UNLIMITED = "100000000/minute,1000000000/day"
CODINGS = {"gzip": gzip.decompress, "br": brotli.decompress}

SCANNER_CALLER = """
from django.contrib.auth import get_user_model
from portal.accounts.models import ApiToken
from portal.accounts.tokens import issue_token
from stocks.models import Membership
user = get_user_model().objects.create_user("bench-client")
Membership.objects.create(user=user, tier=Membership.Tier.ENTERPRISE)
print(issue_token(user, "bench", scope=ApiToken.Scope.SCANNER)[1])
"""

# wrk's script: with BENCH_UNIQUE set, each request's path gets a max_market_cap no request has had
# (the thread's number keeps the threads apart); done() prints what Python reads back, p95 included.
WRK_SCRIPT = """
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
local base = tonumber(os.getenv("BENCH_UNIQUE") or "")
local sent = 0
function request()
  if base == nil then return wrk.request() end
  sent = sent + 1
  return wrk.format(nil, wrk.path .. string.format("&max_market_cap=%.0f", base + sent * 64 + id))
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), e.status, e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass(frozen=True)
class Result:
    rps: float
    p50: float  # seconds
    p95: float
    notes: str


def load(script, url, seconds, connections, headers, unique_from=None):
    """One wrk run; with `unique_from`, every request a new screen (see WRK_SCRIPT)."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script)]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    environment = os.environ | ({"BENCH_UNIQUE": str(unique_from)} if unique_from else {})
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True, env=environment).stdout
    requests, duration, p50, p95, non_2xx, socket_errors = map(int, re.search(r"^BENCH (.*)$", output, re.M)[1].split())
    notes = ", ".join(
        filter(None, [non_2xx and f"{non_2xx} non-2xx", socket_errors and f"{socket_errors} socket errors"])
    )
    return Result(requests / (duration / 1e6), p50 / 1e6, p95 / 1e6, notes)


def fetch(port, path, headers):
    """(headers, body) of one GET."""
    connection = HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.headers, response.read()
    finally:
        connection.close()


def manage(environment, *args):
    from tests.system.conftest import manage as run

    done = run(*args, environment=environment, timeout=1800)
    if done.returncode:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def ms(seconds):
    return f"{seconds * 1000:7.2f} ms"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stocks", type=int, default=4000)
    parser.add_argument("--days", type=int, default=250)
    parser.add_argument("--seconds", type=int, default=5, help="length of each load run")
    parser.add_argument("--rounds", type=int, default=3, help="load runs per target; the median one is shown")
    parser.add_argument("--connections", type=int, default=16, help="concurrent keep-alive connections")
    parser.add_argument("--limit", type=int, default=100, help="rows in the screen")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("This benchmark drives the load with wrk: apt-get install wrk")

    with portal_on_throwaway_servers("bench-api-") as (root, _postgres, _redis, environment, _operator):
        environment |= {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "PORTAL_RATE_LIMIT_ENTERPRISE": UNLIMITED,
            "PORTAL_SCREEN_CACHE_SECONDS": "3600",  # warm stays warm for the whole run
            "PORTAL_STOCK_CACHE_SECONDS": "3600",
        }
        seeded = json.loads(
            manage(environment, "seed_stocks", "--stocks", str(args.stocks), "--days", str(args.days), "--json")
        )
        print(
            f"seeded {seeded['stocks']:,} stocks, {seeded['bars']:,} daily bars in {seeded['seconds']:.0f} s",
            flush=True,
        )
        token = manage(environment, "shell", "-c", SCANNER_CALLER).strip().splitlines()[-1]
        script = root / "screen.lua"
        script.write_text(WRK_SCRIPT)

        from tests.services import portal_gunicorn

        with portal_gunicorn(environment, workers=WORKERS, threads=THREADS, log=root / "gunicorn.log") as (_, port, _):
            run(args, script, port, token)


def run(args, script, port, token):
    caller = {"Authorization": f"Bearer {token}"}
    compressed = caller | {"Accept-Encoding": "gzip, br"}
    api, plain = f"/api/stocks/?limit={args.limit}", f"/bench/plain-screen/?limit={args.limit}"
    warm = f"{api}&max_market_cap={ABOVE_EVERY_MARKET_CAP}"
    unique = itertools.count(ABOVE_EVERY_MARKET_CAP + 10**12, 10**12)  # each run's screens: none asked before
    base = f"http://127.0.0.1:{port}"
    targets = {  # name: (url, headers, unique screens)
        "baseline (plain view, no cache)": (base + plain, compressed, True),
        "API cold (a new screen each time)": (base + api, compressed, True),
        "API warm (the same screen)": (base + warm, compressed, False),
        "API warm, identity": (base + warm, caller, False),
    }
    print(f"gunicorn: the portal's configuration, {WORKERS} workers x {THREADS} threads; bench/settings.py")
    print(f"load: wrk, 2 threads, {args.connections} connections, {args.rounds} rounds of {args.seconds} s per target")
    print(f"screen: {args.limit} rows, every field; requests with a scanner token, Accept-Encoding: gzip, br")
    for url, headers, fresh in targets.values():  # warm-up: connections, caches, the first query plans
        load(script, url, 1, args.connections, headers, next(unique) if fresh else None)
    rounds = {name: [] for name in targets}
    for _ in range(args.rounds):
        for name, (url, headers, fresh) in targets.items():
            rounds[name].append(
                load(script, url, args.seconds, args.connections, headers, next(unique) if fresh else None)
            )
    results = {name: sorted(runs, key=lambda result: result.rps)[len(runs) // 2] for name, runs in rounds.items()}

    baseline = next(iter(results.values()))
    print(f"\n{'':<36} {'req/s':>9} {'p50':>10} {'p95':>10}  {'req/s vs baseline':>17}")
    for name, result in results.items():
        notes = f"  ({result.notes})" if result.notes else ""
        print(
            f"  {name:<34} {result.rps:>9,.0f} {ms(result.p50)} {ms(result.p95)}  {result.rps / baseline.rps:>16.2f}x"
            f"{notes}"
        )

    headers, identity = fetch(port, warm, caller | {"Accept-Encoding": "identity"})
    print(f"\none screen ({args.limit} rows, every field): {len(identity):,} bytes as it is")
    for coding, decode in CODINGS.items():
        headers, body = fetch(port, warm, caller | {"Accept-Encoding": coding})
        sent = headers.get("Content-Encoding", "identity")
        same = "decodes to the same JSON" if sent == coding and decode(body) == identity else "NOT THE SAME"
        ratio = len(body) / len(identity)
        verdict = "within" if ratio <= 0.2 else "ABOVE"
        print(
            f"  {coding:<5} {len(body):>8,} bytes  ratio {ratio:.3f} ({verdict} the 0.2 target;"
            f" {1 - ratio:.0%} less bandwidth), Content-Encoding: {sent}, {same}"
        )


if __name__ == "__main__":
    main()
