"""What the request log line and the metrics cost per request, and what a scrape of /metrics costs. Prints; never
asserts.

    .venv/bin/python bench/observability.py [--seconds 3] [--rounds 5] [--connections 8]

Two portals run side by side under the production gunicorn configuration (2 workers x 4
threads, DEBUG off, probes on their own listener) on the same throwaway PostgreSQL and Redis
(tests/system/traffic.py), each with its stderr in a file, as a collector would take it:
  on    the portal as shipped: a JSON line per request (portal.request_log), logging at INFO,
        metrics in prometheus_client's multiprocess mode (PORTAL_METRICS_DIR);
  off   bench/no_observability.py: the request-line and request-metrics middleware removed,
        database statements not timed, PORTAL_LOG_LEVEL=WARNING (the cache calls' timing stays,
        inline in the guarded Redis client: a few microseconds a call).
Targets, each measured on both portals in turn (on, off, then off, on: a busy neighbour
slows both alike), round after round, each shown by its median round:
  scanner API   GET /api/stocks/?limit=50 with a scanner token (an enterprise member whose
                limits are raised out of the way), answered from the warm cache;
  staff page    GET /admin/stocks/stock/ with an operator's session;
  probe         GET /health/live/ on the probes' listener: neither logged nor counted, so
                its ratio shows the noise.
Each is loaded twice with wrk (apt-get install wrk): busy (`--connections`, more than the
2 cores serve at once): requests per second and the ratio on/off (target: at least 0.95,
under 5 % fewer requests per second); and light (2 connections, so a request seldom waits
for a core): the median latency. What the observability adds to one request is printed two
ways: the difference of those medians, and of the CPU time the workers spent per request
(user and system, read from /proc around every run; workers are not recycled meanwhile,
PORTAL_MAX_REQUESTS=0), which a busy neighbour on the machine disturbs much less.

Then /metrics: the "on" portal's scrape (its 2 workers' files, after the load), timed over
HTTP; and the same files copied as if 2, 8 and 32 workers had written them, rendered in
this process by prometheus_client's MultiProcessCollector and text encoder; those of 2 live
workers after 100 and 1,000 recycles, the dead workers' files kept (as before
portal/metrics_files.py) or folded into the archives, and what a fold costs the master; and
whether the baseline counted nothing (no request, no statement). Last, as the load's noise on a shared
machine is larger than 5 %, the observability's own work timed in a process of the portal's
(IN_PROCESS), and the two middlewares' share of the CPU a request takes without them.
"""

import argparse
import contextlib
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402
from prometheus_client.multiprocess import MultiProcessCollector  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from bench.api import SCANNER_CALLER, UNLIMITED, manage  # noqa: E402
from bench.common import portal_on_throwaway_servers  # noqa: E402
from bench.health import load, load_client  # noqa: E402
from portal.metrics_files import worker_exited  # noqa: E402
from tests.services import http  # noqa: E402
from tests.system.traffic import serve  # noqa: E402

WORKERS, THREADS = 2, 4
LIGHT = 2  # connections: as many as the machine has cores
TARGET = 0.95
VARIANTS = {
    "on": {},
    "off": {"DJANGO_SETTINGS_MODULE": "bench.no_observability", "PORTAL_LOG_LEVEL": "WARNING"},
}
TARGETS = {  # name: (path, on the probes' listener, credentials)
    "scanner API": ("/api/stocks/?limit=50", False, "scanner"),
    "staff page": ("/admin/stocks/stock/", False, "session"),
    "probe": ("/health/live/", True, None),
}
SCRAPES = 30
RECYCLES = (100, 1000)  # workers that exited since the server started: their files kept, or folded
# The observability's own work, timed in a process of the portal's (manage.py shell, settings as served: JSON lines
# on stderr, metrics in multiprocess mode): each middleware around a view that answers at once, the scanner API's
# request; a database statement's two timers (the request line's count, the histogram); a cache call's histogram.
IN_PROCESS = """
import json, os, time
from django.db import connection
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import resolve
from opsadmin.runtime.metrics import CACHE_SECONDS
from opsadmin.runtime.metrics.database import _observe
from opsadmin.runtime.metrics.requests import RequestMetricsMiddleware
from portal.request_context import RequestStats
from portal.request_log import RequestLogMiddleware

CALLS = 20000
request = RequestFactory().get("/api/stocks/?limit=50", HTTP_AUTHORIZATION="Bearer " + os.environ["BENCH_TOKEN"])
request.resolver_match = resolve("/api/stocks/")
response = HttpResponse(b"{}", content_type="application/json")
log_line, metrics = RequestLogMiddleware(lambda request: response), RequestMetricsMiddleware(lambda request: response)
stats, nothing, context = RequestStats(), lambda *args: None, {"connection": connection}

def timed(call):
    call()
    start = time.perf_counter()
    for _ in range(CALLS):
        call()
    return (time.perf_counter() - start) / CALLS

print(json.dumps({
    "request line": timed(lambda: log_line(request)),
    "request metrics": timed(lambda: metrics(request)),
    "statement timers": timed(lambda: (stats.time_query(nothing, "SELECT 1", None, False, context),
                                        _observe(nothing, "SELECT 1", None, False, context))),
    "cache call timer": timed(lambda: CACHE_SECONDS.labels("get", "ok").observe(0.0005)),
}))
"""
SIMULATED_WORKERS = (2, 8, 32)
WORKER_FILE = re.compile(r"^(?P<kind>.+)_(?P<pid>\d+)\.db$")  # prometheus_client's: counter_1234.db, ...


def headers_for(credentials, stack, scanner_token):
    return {
        "scanner": {"Authorization": f"Bearer {scanner_token}"},
        "session": {"Cookie": f"sessionid={stack.session}", "Accept": "text/html"},
        None: {},
    }[credentials]


def median_round(runs, key="rps"):
    return sorted(runs, key=lambda run: run[key])[len(runs) // 2]


def us(seconds):
    return f"{seconds * 1e6:6,.0f} µs"


def loaded(stack, url, seconds, connections, headers):
    """wrk's result, and `cpu`: the seconds of CPU (user and system) the portal's workers spent per request."""
    workers = [psutil.Process(pid) for pid in stack.workers()]  # none is recycled: PORTAL_MAX_REQUESTS=0

    def cpu():
        return sum(times.user + times.system for times in (worker.cpu_times() for worker in workers))

    before = cpu()
    result = load(url, seconds, connections, headers)
    return result | {"cpu": (cpu() - before) / (result["rps"] * seconds)}


def measure(stacks, scanner_token, seconds, rounds, connections):
    """{target: {variant: {"busy": [runs], "light": [runs]}}}, the variants in turn (ABBA), round after round."""
    results = {target: {name: defaultdict(list) for name in stacks} for target in TARGETS}
    requests = {}
    for target, (path, probe, credentials) in TARGETS.items():
        for name, stack in stacks.items():
            port, headers = stack.probe_port if probe else stack.port, headers_for(credentials, stack, scanner_token)
            status, body, _ = http(port, path, headers=headers)
            if status != 200:
                sys.exit(f"{name}: {target} answered {status}: {body[:300]!r}")
            requests[target, name] = (f"http://127.0.0.1:{port}{path}", headers)
            load(requests[target, name][0], 1, connections, headers)  # warm up: connections, caches
    for number in range(rounds):
        order = list(stacks) if number % 2 == 0 else list(reversed(stacks))
        for target in TARGETS:
            for name in order:
                url, headers = requests[target, name]
                results[target][name]["busy"].append(loaded(stacks[name], url, seconds, connections, headers))
                results[target][name]["light"].append(loaded(stacks[name], url, seconds, LIGHT, headers))
    return results


def report(results, connections):
    for target, variants in results.items():
        path, probe, _ = TARGETS[target]
        where = "the probes' listener" if probe else "the main listener"
        print(f"\n{target}: GET {path} on {where}")
        busy = {name: median_round(runs["busy"]) for name, runs in variants.items()}
        cpu = {
            name: statistics.median(run["cpu"] for run in runs["busy"] + runs["light"])
            for name, runs in variants.items()
        }
        light = {name: median_round(runs["light"], "p50") for name, runs in variants.items()}
        for name in variants:
            notes = ", ".join(filter(None, [busy[name]["notes"], light[name]["notes"]]))
            print(
                f"  {name:<4} busy ({connections} connections): {busy[name]['rps']:>7,.0f} req/s"
                f"  p50 {busy[name]['p50'] * 1000:6.2f} ms  p99 {busy[name]['p99'] * 1000:6.2f} ms"
                f"   light ({LIGHT}): p50 {light[name]['p50'] * 1000:6.3f} ms  p99 {light[name]['p99'] * 1000:6.2f} ms"
                f"   CPU {us(cpu[name])} a request" + (f"  ({notes})" if notes else "")
            )
        ratio = busy["on"]["rps"] / busy["off"]["rps"]
        paired = sorted(
            on["rps"] / off["rps"] for on, off in zip(variants["on"]["busy"], variants["off"]["busy"], strict=True)
        )
        verdict = "met" if ratio >= TARGET else "NOT met"
        print(
            f"  on/off: {ratio:.3f} of the requests per second (each round's: median {statistics.median(paired):.3f},"
            f" {paired[0]:.3f} to {paired[-1]:.3f}); target >= {TARGET}: {verdict}"
        )
        latency, work = light["on"]["p50"] - light["off"]["p50"], cpu["on"] - cpu["off"]
        print(f"  per request, on - off: {latency * 1e6:+,.0f} µs of light-load p50, {work * 1e6:+,.0f} µs of CPU")
        if probe:
            print("  (probes meet neither the request line nor the metrics: these differences are the noise here)")


def in_process(environment, root, scanner_token, results):
    directory = root / "metrics-in-process"
    directory.mkdir()
    environment = environment | {"PROMETHEUS_MULTIPROC_DIR": str(directory), "BENCH_TOKEN": scanner_token}
    timings = json.loads(manage(environment, "shell", "-c", IN_PROCESS).strip().splitlines()[-1])
    print(
        "\nIn one process of the portal's, timed over 20,000 calls each (the JSON line to a pipe, as under a collector)"
    )
    for name, seconds in timings.items():
        print(f"  {name:<18} {seconds * 1e6:7.1f} µs each")
    both = timings["request line"] + timings["request metrics"]
    for target, variants in results.items():
        if not TARGETS[target][1]:  # the probes meet neither middleware
            work = statistics.median(run["cpu"] for run in variants["off"]["busy"] + variants["off"]["light"])
            print(
                f"  the two middlewares, {both * 1e6:.0f} µs, are {both / work:.1%} of the {us(work).strip()} of CPU"
                f" a {target} request takes without them (target: under 5 %)"
            )


def counted(port, token):
    """(requests, database statements, the exposition's bytes, seconds) of one scrape of /metrics."""
    status, body, seconds = http(port, "/metrics", headers={"Authorization": f"Bearer {token}"})
    if status != 200:
        sys.exit(f"/metrics answered {status}: {body[:300]!r}")
    totals = defaultdict(float)
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            totals[sample.name] += sample.value
    return totals["portal_http_requests_total"], totals["portal_db_query_duration_seconds_count"], len(body), seconds


def log_records(log):
    """(request lines, their mean bytes, other records by logger) in a portal's log (JSON, a record a line)."""
    sizes, others = [], Counter()
    with open(log, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            with contextlib.suppress(ValueError):  # anything not JSON (a warning printed by a library) is skipped
                logger = json.loads(line).get("logger")
                if logger == "portal.request":
                    sizes.append(len(line.encode()))
                else:
                    others[logger] += 1
    return len(sizes), (statistics.mean(sizes) if sizes else 0), others


def metrics_cost(stacks, logs, metrics_dir):
    print("\n/metrics")
    for name, stack in stacks.items():
        requests, statements, _, _ = counted(stack.port, stack.token)
        lines, size, others = log_records(logs[name])
        print(
            f"  {name:<4} counted {requests:>7,.0f} requests, timed {statements:>6,.0f} database statements;"
            f" its log: {lines:,} request lines"
            + (f" of {size:,.0f} bytes on average" if lines else "")
            + f", other records {dict(others.most_common())}"
        )
    on = stacks["on"]
    scrapes = [counted(on.port, on.token) for _ in range(SCRAPES)]
    seconds = sorted(scrape[3] for scrape in scrapes)
    print(
        f"  a scrape of the 'on' portal ({WORKERS} workers' files, after the load), {SCRAPES} in turn, one connection"
        f" each: {scrapes[-1][2]:,} bytes, median {seconds[len(seconds) // 2] * 1000:.1f} ms,"
        f" slowest {seconds[-1] * 1000:.1f} ms"
    )
    by_pid = defaultdict(list)
    for path in metrics_dir.glob("*.db"):
        if match := WORKER_FILE.match(path.name):
            by_pid[match["pid"]].append((path, match["kind"]))
    busiest = max(by_pid.values(), key=lambda files: sum(path.stat().st_size for path, _ in files))
    print("  one worker's files copied as N workers', rendered here (MultiProcessCollector, text format):")
    for workers in SIMULATED_WORKERS:
        with tempfile.TemporaryDirectory(prefix="bench-metrics-") as copies:
            for pid in range(1, workers + 1):
                for path, kind in busiest:
                    shutil.copyfile(path, Path(copies) / f"{kind}_{pid}.db")
            median, body = rendered(copies)
            series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
            print(f"    {workers:>3} workers: {median * 1000:7.1f} ms  ({len(body):,} bytes, {series:,} samples)")
    print(f"  {WORKERS} live workers' files after N recycles, each leaving that worker's files, rendered here:")
    for recycles in RECYCLES:
        with tempfile.TemporaryDirectory(prefix="bench-metrics-") as copies:
            for pid in range(1, WORKERS + recycles + 1):
                for path, kind in busiest:
                    if pid <= WORKERS or not kind.startswith("gauge_live"):  # a dead worker's live gauges go
                        shutil.copyfile(path, Path(copies) / f"{kind}_{pid}.db")
            kept, _ = rendered(copies)
            started = time.perf_counter()
            for pid in range(WORKERS + 1, WORKERS + recycles + 1):
                worker_exited(pid, copies)
            folding = (time.perf_counter() - started) / recycles
            folded, _ = rendered(copies)
            print(
                f"    {recycles:>5} recycles: files kept {kept * 1000:7.1f} ms, folded {folded * 1000:5.1f} ms"
                f" ({folded / kept:.3f}x); a fold {folding * 1000:.2f} ms"
            )


def rendered(directory):
    """(median seconds, body) of the directory rendered by MultiProcessCollector and the text encoder, 15 times."""
    timings, body = [], b""
    for _ in range(15):
        started = time.perf_counter()
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)
        body = generate_latest(registry)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings), body


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3, help="length of each load run")
    parser.add_argument("--rounds", type=int, default=5, help="runs per target and portal; the median is shown")
    parser.add_argument("--connections", type=int, default=8, help="concurrent keep-alive connections when busy")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("This benchmark drives the load with wrk: apt-get install wrk")
    with (
        portal_on_throwaway_servers("bench-observability-") as (root, postgres, redis, environment, credentials),
        contextlib.ExitStack() as servers,
    ):
        environment |= {
            "PORTAL_RATE_LIMIT_ENTERPRISE": UNLIMITED,
            "PORTAL_SCREEN_CACHE_SECONDS": "3600",  # the screen stays warm for the whole run
            "PORTAL_STOCK_CACHE_SECONDS": "3600",
            "PORTAL_MAX_REQUESTS": "0",  # the same workers throughout: their CPU time is read around each run
        }
        manage(environment, "seed_stocks", "--stocks", "200", "--days", "20")
        scanner_token = manage(environment, "shell", "-c", SCANNER_CALLER).strip().splitlines()[-1]
        metrics_dir = root / "metrics-on"
        logs = {name: root / f"{name}.log" for name in VARIANTS}
        stacks = {
            name: servers.enter_context(
                serve(
                    environment | extra | {"PORTAL_METRICS_DIR": str(root / f"metrics-{name}")},
                    credentials,
                    postgres,
                    redis,
                    logs[name],
                    WORKERS,
                    THREADS,
                )
            )
            for name, extra in VARIANTS.items()
        }
        print(f"gunicorn: the portal's configuration, {WORKERS} workers x {THREADS} threads each, DEBUG off")
        print("  on:  the portal as shipped (JSON request lines at INFO, metrics in multiprocess mode)")
        print("  off: bench/no_observability.py, PORTAL_LOG_LEVEL=WARNING")
        print(
            f"load: {load_client()}; busy {args.connections} connections, light {LIGHT};"
            f" {args.rounds} rounds of {args.seconds} s each, on and off in turn"
        )
        results = measure(stacks, scanner_token, args.seconds, args.rounds, args.connections)
        report(results, args.connections)
        metrics_cost(stacks, logs, metrics_dir)
        in_process(environment, root, scanner_token, results)


if __name__ == "__main__":
    main()
