"""What preloading with gc.freeze() saves, and what the memory-limit sampler costs. Prints; never asserts.

    .venv/bin/python bench/memory.py [--rounds 3] [--warm 400] [--seconds 5] [--connections 8]

On one throwaway PostgreSQL and Redis (migrated, static files collected, an operator with
a session and an ops API token: tests/system/traffic.py), the portal runs under its
production gunicorn configuration with 4 workers x 4 threads:
  1. shared memory, three ways one after the other: "preload + freeze + warm-up" (the
     default: the app loaded in the master, which renders portal/warm_up.py's everyday pages
     once, and gc.freeze() before each fork), "preload + freeze" (PORTAL_WARM_UP_PATHS=""),
     and "neither" (PORTAL_PRELOAD=0: each worker loads its own); each warmed with the same
     requests, more than the master's warm-up renders (staff pages with the session, ops API
     reads with the token); the workers' USS (memory no other process shares) summed, PSS
     and RSS beside it; the median of the rounds, and the ratios to "neither" (target: at
     most 0.6);
  2. the limit sampler's cost: requests per second on an ops API read with the
     memory-limit middleware sampling (limits set but never reached, the default sampling
     every PORTAL_MEMORY_SAMPLE_EVERY requests) and without it (bench/no_memory_limits.py),
     rounds alternating; medians and the ratio (target: it costs under 2 %), and, as the load's
     noise is larger than that, the sampler's own work per request timed in this process.
"""

import argparse
import contextlib
import statistics
import sys
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.common import portal_on_throwaway_servers  # noqa: E402
from bench.health import load, load_client, show  # noqa: E402
from tests.services import http, portal_gunicorn  # noqa: E402
from tests.system.traffic import API, PAGES  # noqa: E402

# What warms every variant: the traffic tests' pages and API reads, ops pages the master's warm-up renders
# too, and some it doesn't (the database and breakers pages, the instances, the fleet's memory).
WARM_PAGES = (
    *PAGES,
    *("/admin/ops/health/", "/admin/ops/memory/", "/admin/ops/database/", "/admin/ops/breakers/"),
    "/admin/opsadmin/instance/",
)
WARM_API = (*API, "/api/ops/memory/fleet/", "/api/ops/instances/")

WORKERS, THREADS = 4, 4
SETTLE = 2  # seconds after warming: the last responses are written, the heartbeats land
MIB = 1024 * 1024
SHARING = {
    "preload + freeze + warm-up": {"PORTAL_PRELOAD": "1"},
    "preload + freeze": {"PORTAL_PRELOAD": "1", "PORTAL_WARM_UP_PATHS": ""},
    "neither": {"PORTAL_PRELOAD": "0"},
}
NEVER = "64GB"  # a limit no worker reaches: the sampler reads RSS, nothing else happens
SAMPLER = {
    "sampler": {"PORTAL_MEMORY_SOFT_LIMIT": NEVER, "PORTAL_MEMORY_HARD_LIMIT": NEVER},
    "no middleware": {"DJANGO_SETTINGS_MODULE": "bench.no_memory_limits"},
}
READ = "/api/ops/runs/"


def warm(port, credentials, requests):
    """The same `requests` for every variant: staff pages and API reads from 8 threads, every one checked."""
    asks = [(path, {"Cookie": f"sessionid={credentials['session']}"}) for path in WARM_PAGES]
    asks += [(path, {"Authorization": f"Bearer {credentials['token']}"}) for path in WARM_API]
    failures = []

    def client(number):
        for index in range(number, requests, 8):
            path, headers = asks[index % len(asks)]
            status = http(port, path, headers=headers | {"Accept": "text/html"}, timeout=30)[0]
            if status != 200:
                failures.append((path, status))

    threads = [threading.Thread(target=client, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def workers_memory(master):
    """(USS, PSS, RSS) summed over the master's workers, and the master's own USS."""
    workers = psutil.Process(master.pid).children()
    infos = [worker.memory_full_info() for worker in workers]
    total = [sum(getattr(info, field) for info in infos) for field in ("uss", "pss", "rss")]
    return total, psutil.Process(master.pid).memory_full_info().uss, len(workers)


def shared_memory(environment, credentials, root, rounds, requests):
    print(f"\n1. Shared memory: {WORKERS} workers x {THREADS} threads, warmed with {requests} requests each start")
    results = {name: [] for name in SHARING}
    for number in range(rounds):
        for variant, (name, extra) in enumerate(SHARING.items()):
            log = root / f"sharing-{number}-{variant}.log"
            with portal_gunicorn(environment | extra, workers=WORKERS, threads=THREADS, log=log) as (master, port, _):
                failures = warm(port, credentials, requests)
                time.sleep(SETTLE)
                (uss, pss, rss), master_uss, count = workers_memory(master)
            results[name].append((uss, pss, rss, master_uss, count, failures))
    medians = {}
    for name, runs in results.items():
        uss, pss, rss, master_uss = (statistics.median(run[field] for run in runs) for field in range(4))
        failed = sum(len(run[5]) for run in runs)
        medians[name] = uss
        print(
            f"  {name:<26} workers' USS {uss / MIB:7.1f} MiB   PSS {pss / MIB:7.1f} MiB   RSS {rss / MIB:7.1f} MiB"
            f"   (master's USS {master_uss / MIB:.1f} MiB; {runs[0][4]} workers; {failed} failed warm-up requests)"
        )
        print(f"  {'':<26} USS per round: {', '.join(f'{run[0] / MIB:.1f}' for run in runs)} MiB")
    for name in list(SHARING)[:2]:
        print(f"  {name} / neither: {medians[name] / medians['neither']:.2f} of the workers' USS (target <= 0.6)")


def sampler_cost(environment, credentials, root, rounds, seconds, connections):
    print(f"\n2. The limit sampler: GET {READ} with an ops token, {connections} connections, {rounds} x {seconds} s")
    results = {name: [] for name in SAMPLER}
    headers = {"Authorization": f"Bearer {credentials['token']}"}
    with contextlib.ExitStack() as servers:
        ports = {
            name: servers.enter_context(
                portal_gunicorn(environment | extra, workers=WORKERS, threads=THREADS, log=root / f"{name}.log")
            )[1]
            for name, extra in SAMPLER.items()
        }
        for _ in range(rounds):
            for name, port in ports.items():  # in turn, round after round: a busy neighbour slows both alike
                results[name].append(load(f"http://127.0.0.1:{port}{READ}", seconds, connections, headers))
    medians = {}
    for name, runs in results.items():
        medians[name] = sorted(runs, key=lambda run: run["rps"])[len(runs) // 2]
        show(name, medians[name])
        print(f"  {'':<24} req/s per round: {', '.join(f'{run["rps"]:,.0f}' for run in runs)}")
    ratio = medians["sampler"]["rps"] / medians["no middleware"]["rps"]
    print(f"  sampler / no middleware: {ratio:.3f} of the requests per second (target >= 0.98: under 2 % cost)")
    per_request = sampler_seconds_per_request()
    served_in = connections / medians["no middleware"]["rps"]
    print(
        f"  in process: the sampler's work is {per_request * 1e6:.2f} us a request (its RSS read amortised),"
        f" {per_request / served_in:.4%} of the {served_in * 1000:.1f} ms a request takes here"
    )


def sampler_seconds_per_request(calls=200_000):
    """What the middleware adds to one request, timed in this process: the count, and every
    PORTAL_MEMORY_SAMPLE_EVERY-th time an RSS read against limits never reached."""
    from django.conf import settings

    settings.configure(
        PORTAL_MEMORY_SOFT_LIMIT=1 << 36, PORTAL_MEMORY_HARD_LIMIT=1 << 36, PORTAL_MEMORY_SAMPLE_EVERY=50
    )
    from opsadmin.runtime import memory_limits

    start = time.perf_counter()
    for _ in range(calls):
        memory_limits.count_request(can_recycle=False)
    return (time.perf_counter() - start) / calls


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per variant; the median is shown")
    parser.add_argument("--warm", type=int, default=400, help="requests that warm each start")
    parser.add_argument("--seconds", type=int, default=5, help="length of each sampler load run")
    parser.add_argument("--connections", type=int, default=8, help="concurrent keep-alive connections")
    args = parser.parse_args()
    print(f"gunicorn: the portal's configuration, {WORKERS} workers x {THREADS} threads; load: {load_client()}")
    with portal_on_throwaway_servers("bench-memory-") as (root, _postgres, _redis, environment, credentials):
        shared_memory(environment, credentials, root, args.rounds, args.warm)
        sampler_cost(environment, credentials, root, args.rounds, args.seconds, args.connections)


if __name__ == "__main__":
    main()
