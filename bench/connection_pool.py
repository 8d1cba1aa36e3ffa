"""Django's connection pool (psycopg 3) against psycopg2's persistent connections, served side by side on one
PostgreSQL: requests per second, latencies, and the connections each server opens and holds. Printed, never asserted.

    .venv/bin/python bench/connection_pool.py [--seconds 3] [--rounds 3] [--connections 16] [--servers a,b,c4,c7,d]

Needs PyPI once: psycopg 3 and psycopg_pool (PSYCOPG3 below, pinned) are installed with `pip install --target` into
a folder under the system temp dir, kept for later runs, and put on the PYTHONPATH of the psycopg 3 servers only. The
project's venv and requirements keep psycopg2 alone; Django takes psycopg 3 wherever `import psycopg` succeeds.

Starts a throwaway PostgreSQL (log_connections on) and Redis, migrates, seeds STOCKS x DAYS daily bars and a
scanner caller whose limits are out of the way (as bench/api.py), then serves the portal under its production
gunicorn configuration with the same flags for each (2 workers x 4 threads, bench/settings.py), all at once:

  a   psycopg2, the portal's engine (breaker, connect retries, deadlines, session names), CONN_MAX_AGE 60: production;
  b   psycopg2, Django's own engine (PORTAL_DATABASE_GUARD=0), CONN_MAX_AGE 60: what the guard costs;
  b3  b on psycopg 3 (only when asked for: --servers): what the driver costs, apart from the pool;
  c4  psycopg 3, Django's own engine and pool (bench/pooled_settings.py), CONN_MAX_AGE 0, 4 connections a worker:
      its request threads;
  c7  the same with 7 a worker: its request threads and the 3 its long-lived threads keep (2 readiness database
      checks, the heartbeat), as the connection budget in docs/deployment.md counts them;
  d   psycopg2, the portal's engine, CONN_MAX_AGE 0: a new connection per request, the worst case.

Each server names its sessions after itself (DATABASE_URL's application_name), so the server's log tells whose
every new connection is. After a warm-up, rounds alternate between the servers (a busy neighbour on this shared
machine slows each alike), each loading GET /api/movers/ (a scanner read: token, tier, rate-limit count, and the
live movers, an indexed query no cache answers) and /health/ready/ on the probe listener, readiness not cached
(PORTAL_READINESS_CACHE_SECONDS=0: every probe runs its database checks), with wrk when installed, else Python
threads (bench/health.py's `load`). Workers are never recycled (PORTAL_MAX_REQUESTS=0) and the masters warm up
nothing (PORTAL_WARM_UP_PATHS=""): a pool opened in a master by its warm-up is inherited by every worker it forks,
sockets and all, and the workers then garble each other's sessions.

Prints, for each server: the median round's req/s, p50 and p99 of both endpoints, and the req/s against a's; the
connections made while it was loaded (and per minute of its load) and during the whole measured run (per minute),
by purpose where the engine names it; and those held at the end (pg_stat_activity).
"""

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.api import SCANNER_CALLER, UNLIMITED, manage  # noqa: E402
from bench.common import portal_on_throwaway_servers  # noqa: E402
from bench.health import connections_made, held_connections, load, load_client, median_round, ms  # noqa: E402
from opsadmin.runtime.postgresql.application import parse_session_name  # noqa: E402
from tests.services import portal_gunicorn  # noqa: E402

PSYCOPG3 = ("psycopg==3.3.9", "psycopg-binary==3.3.9", "psycopg-pool==3.3.3")  # Django 6.1 takes psycopg >= 3.1.12
WORKERS, THREADS = 2, 4
KEPT_PER_WORKER = 3  # connections a worker's long-lived threads keep: 2 readiness database checks, the heartbeat
STOCKS, DAYS = 2000, 20
MOVERS, READY = "/api/movers/?limit=10", "/health/ready/"
POOLED = {"PORTAL_DATABASE_GUARD": "0", "DATABASE_CONN_MAX_AGE": "0", "DJANGO_SETTINGS_MODULE": "bench.pooled_settings"}


def pooled(size):
    """A pooled server's (description, environment, psycopg 3), on Django's engine: the portal's needs psycopg2."""
    pool = json.dumps({"min_size": size, "max_size": size})
    return f"psycopg 3, Django's pool of {size}", POOLED | {"BENCH_POOL": pool}, True


SERVERS = {  # name: (description, environment, psycopg 3)
    "a": ("psycopg2, portal engine, CONN_MAX_AGE 60", {}, False),
    "b": ("psycopg2, Django's engine, CONN_MAX_AGE 60", {"PORTAL_DATABASE_GUARD": "0"}, False),
    "b3": ("psycopg 3, Django's engine, CONN_MAX_AGE 60", {"PORTAL_DATABASE_GUARD": "0"}, True),
    "c4": pooled(THREADS),
    "c7": pooled(THREADS + KEPT_PER_WORKER),
    "d": ("psycopg2, portal engine, CONN_MAX_AGE 0", {"DATABASE_CONN_MAX_AGE": "0"}, False),
}
DEFAULT_SERVERS = "a,b,c4,c7,d"  # about 2.5 minutes in all


def psycopg3_site():
    """A folder with PSYCOPG3 installed, for PYTHONPATH: installed from PyPI on first use, then kept for later runs.

    --no-deps: their one dependency, typing-extensions, is in the venv already, and a copy here would shadow it."""
    site = Path(tempfile.gettempdir()) / ("bench-" + "-".join(PSYCOPG3).replace("==", "-"))
    if not site.is_dir():
        print(f"installing {', '.join(PSYCOPG3)} into {site} (PyPI)", flush=True)
        partial = Path(tempfile.mkdtemp(prefix=site.name + ".partial-", dir=site.parent))
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(partial), *PSYCOPG3]
        subprocess.run(pip, check=True)
        partial.rename(site)  # whole or not at all: an interrupted install is never taken for a finished one
    return site


def server_of(name):
    """The bench server an application_name belongs to (its first word), else None."""
    first = name.split(" ", 1)[0]
    return first.removeprefix("bench-") if first.startswith("bench-") else None


def by_purpose(counts, server):
    """'web 8, check 4' for one server's {application_name: count}; 'unnamed' where the engine names no purpose."""
    purposes = collections.Counter()
    for name, count in counts.items():
        if server_of(name) == server:
            purposes[parse_session_name(name, f"bench-{server}")[1] or "unnamed"] += count
    return sum(purposes.values()), ", ".join(f"{purpose} {count}" for purpose, count in purposes.most_common())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=3, help="length of each load run")
    parser.add_argument("--rounds", type=int, default=3, help="load runs per server and endpoint; the median is shown")
    parser.add_argument("--connections", type=int, default=16, help="concurrent keep-alive connections")
    parser.add_argument("--servers", default=DEFAULT_SERVERS, help=f"which of {', '.join(SERVERS)} to serve, in order")
    args = parser.parse_args()
    chosen = args.servers.split(",")
    if unknown := set(chosen) - set(SERVERS):
        sys.exit(f"unknown servers: {', '.join(sorted(unknown))}")
    site = psycopg3_site() if any(SERVERS[name][2] for name in chosen) else None

    with (
        portal_on_throwaway_servers("bench-pool-", log_connections=True) as (root, postgres, _redis, environment, _),
        ExitStack() as servers,
    ):
        environment |= {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "PORTAL_RATE_LIMIT_ENTERPRISE": UNLIMITED,
            "PORTAL_MAX_REQUESTS": "0",
            "PORTAL_WARM_UP_PATHS": "",
        }
        seeded = json.loads(manage(environment, "seed_stocks", "--stocks", str(STOCKS), "--days", str(DAYS), "--json"))
        token = manage(environment, "shell", "-c", SCANNER_CALLER).strip().splitlines()[-1]
        ports = {}
        for name in chosen:
            _description, extra, psycopg3 = SERVERS[name]
            served = environment | extra | {"DATABASE_URL": f"{postgres}?application_name=bench-{name}"}
            if psycopg3:
                served["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), environment.get("PYTHONPATH")]))
            _process, port, probe_port = servers.enter_context(
                portal_gunicorn(served, workers=WORKERS, threads=THREADS, log=root / f"{name}.log")
            )
            ports[name] = (port, probe_port)
        print(f"gunicorn: the portal's configuration, {WORKERS} workers x {THREADS} threads each, bench/settings.py")
        print(f"load: {load_client()}, {args.connections} connections, {args.rounds} rounds of {args.seconds} s each")
        print(f"seeded {seeded['stocks']:,} stocks, {seeded['bars']:,} daily bars")
        if site:
            on_psycopg3 = ", ".join(name for name in chosen if SERVERS[name][2])
            print(f"psycopg 3 ({on_psycopg3}): {', '.join(PSYCOPG3)} from {site}")
        measure(args, postgres, ports, {"Authorization": f"Bearer {token}"})


def measure(args, postgres, ports, caller):
    """Warm every server up, load them in turn round after round, and print what they did."""
    targets = {
        name: {
            MOVERS: (f"http://127.0.0.1:{port}{MOVERS}", caller),
            READY: (f"http://127.0.0.1:{probe_port}{READY}", {}),
        }
        for name, (port, probe_port) in ports.items()
    }
    for endpoints in targets.values():  # warm-up: every thread's connection, the pools opened, the first plans
        for url, headers in endpoints.values():
            load(url, 2, args.connections, headers)

    rounds = {name: {path: [] for path in endpoints} for name, endpoints in targets.items()}
    while_loaded = {name: collections.Counter() for name in targets}
    loaded_seconds = dict.fromkeys(targets, 0.0)
    run_start, began = postgres.log.stat().st_size, time.monotonic()
    for _ in range(args.rounds):
        for name, endpoints in targets.items():
            for path, (url, headers) in endpoints.items():
                start, started = postgres.log.stat().st_size, time.monotonic()
                rounds[name][path].append(load(url, args.seconds, args.connections, headers))
                while_loaded[name] += connections_made(postgres.log, start)
                loaded_seconds[name] += time.monotonic() - started
    whole_run = connections_made(postgres.log, run_start)
    run_seconds = time.monotonic() - began
    held = dict(held_connections(postgres))

    medians = {name: {path: median_round(runs) for path, runs in paths.items()} for name, paths in rounds.items()}
    first = "a" if "a" in medians else next(iter(medians))  # production, where it is served
    column = f"{'req/s':>8} {'p50':>10} {'p99':>10} {'vs ' + first:>8}"
    print(f"\n{'':<46}" + "      ".join(f"{path:<{len(column)}}" for path in (MOVERS, READY)).rstrip())
    print(f"{'server':<46}" + "      ".join([column] * 2))
    for name, paths in medians.items():
        cells = []
        for path, result in paths.items():
            ratio = result["rps"] / medians[first][path]["rps"]
            notes = f" ({result['notes']})" if result["notes"] else ""
            cells.append(f"{result['rps']:>8.0f} {ms(result['p50']):>10} {ms(result['p99']):>10} {ratio:>7.2f}x{notes}")
        print(f"{name:<3} {SERVERS[name][0]:<42}" + "      ".join(cells))

    print(f"\nnew connections while each server was loaded, and during the whole measured run ({run_seconds:.0f} s);")
    print("held at the end (pg_stat_activity); by purpose where the engine names one")
    for name in medians:
        loaded, loaded_purposes = by_purpose(while_loaded[name], name)
        total, total_purposes = by_purpose(whole_run, name)
        kept, kept_purposes = by_purpose(held, name)
        per_loaded_minute = loaded / (loaded_seconds[name] / 60)
        print(
            f"{name:<3} loaded {loaded_seconds[name]:3.0f} s: {loaded:>5} ({per_loaded_minute:7.1f}/min)"
            f"   whole run: {total:>5} ({total / (run_seconds / 60):7.1f}/min)   held: {kept:>3}"
        )
        for label, purposes in (("loaded", loaded_purposes), ("whole run", total_purposes), ("held", kept_purposes)):
            if purposes:
                print(f"      {label + ':':<10} {purposes}")


if __name__ == "__main__":
    main()
