"""The health endpoints under load: requests per second and latencies, and the PostgreSQL connections a steady
stream of probes opens; printed, never asserted.

    .venv/bin/python bench/health.py [--seconds 3] [--rounds 3] [--connections 16] [--parts load,connections]

Every server is gunicorn with the same flags (GUNICORN_FLAGS: 2 gthread workers x 4 threads,
--no-control-socket) on 127.0.0.1 and a free port, serving either
  (a) bench/bare_app.py, a bare WSGI app returning a constant, or
  (b) the portal with bench/settings.py: the portal's settings plus, at /bench/plain-health/,
      a plain django-health-check `HealthCheckView` over the same check list (bench/urls.py),
      on a freshly migrated SQLite file.
The load comes from `wrk` when it is installed (`apt-get install wrk`), else from a Python
client (threads, http.client keep-alive), which saturates sooner: prefer wrk.

Prints:
  1. /health/live/ vs the bare app: requests/s and the ratio (target >= 0.5);
  2. /health/ready/ vs the plain HealthCheckView: requests/s and the ratio (target >= 10);
  3. with REDIS_URL pointing at a listener that accepts connections and never answers:
     the latency of both, for one prober (as a load balancer) and under load;
  4. on a throwaway PostgreSQL (log_connections on), the portal under its own gunicorn configuration
     (portal/gunicorn.conf.py, 2 workers) and a task worker (`manage.py ops_worker`): /health/ready/ probed
     PROBES_PER_SECOND times a second, and after a warm-up, the connections made during a steady stream of them,
     by application_name ("stockscanner-portal <instance> <purpose>"), per minute and per process (target: 0);
     then the connections each instance holds (pg_stat_activity). Issue 18 measured, before: 118 in 25 s from
     2 workers.
"""

import argparse
import collections
import contextlib
import http.client
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WORKERS, THREADS = 2, 4
JSON = "application/json"
PLAIN = "/bench/plain-health/"

sys.path.insert(0, str(REPO))
from tests.services import HangingServer, portal_gunicorn, stop_process, throwaway_postgres  # noqa: E402
from tests.services import gunicorn as serve  # noqa: E402
from tests.services import http as one_request  # noqa: E402


def gunicorn(app, environment, log):
    """The shared launcher (tests/services.py), with this benchmark's worker settings."""
    return serve(environment, app=app, workers=WORKERS, threads=THREADS, log=log, extra=["--log-level", "warning"])


def request(port, path, accept=JSON, timeout=30):
    """(status, body, seconds) of one GET on a new connection."""
    return one_request(port, path, headers={"Accept": accept}, timeout=timeout)


# --- load -----------------------------------------------------------------------------

UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def seconds_of(text):
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(match.group(1)) * UNITS[match.group(2)]


def load_wrk(url, seconds, connections, headers=None):
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency"]
    for name, value in ({"Accept": JSON} | (headers or {})).items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))}
    for percent in ("50", "99"):
        result[f"p{percent}"] = seconds_of(re.search(rf"^\s+{percent}%\s+(\S+)", output, re.M).group(1))
    result["max"] = seconds_of(re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", output).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    result["notes"] = ", ".join(
        filter(None, [non_2xx and f"{non_2xx.group(1)} non-2xx", errors and f"socket errors: {errors.group(1)}"])
    )
    return result


def load_python(url, seconds, connections, headers=None):
    """Threads on keep-alive connections; the GIL caps it well below wrk."""
    headers = {"Accept": JSON} | (headers or {})
    host, port, path = re.fullmatch(r"http://([^:/]+):(\d+)(/.*)", url).groups()
    latencies, statuses, lock = [], {}, threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client():
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        mine = []
        while time.perf_counter() < stop_at:
            start = time.perf_counter()
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection(host, int(port), timeout=30)
                status = "error"
            mine.append(time.perf_counter() - start)
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(connections)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    latencies.sort()
    others = {status: count for status, count in statuses.items() if status not in (200, 503)}
    return {
        "rps": len(latencies) / elapsed,
        "p50": latencies[len(latencies) // 2],
        "p99": latencies[int(len(latencies) * 0.99)],
        "max": latencies[-1],
        "notes": f"statuses {statuses}" if others else "",
    }


def load_client():
    """What `load` drives the servers with, for the benchmark's header."""
    return "wrk" if shutil.which("wrk") else "python threads (install wrk for sharper numbers)"


def load(url, seconds, connections, headers=None):
    if shutil.which("wrk"):
        return load_wrk(url, seconds, connections, headers)
    return load_python(url, seconds, connections, headers)


def ms(value):
    return f"{value * 1000:.1f} ms"


def show(label, result):
    notes = f"  ({result['notes']})" if result["notes"] else ""
    print(
        f"  {label:<34} {result['rps']:>9.0f} req/s   p50 {ms(result['p50']):>9}   p99 {ms(result['p99']):>9}"
        f"   max {ms(result['max']):>9}{notes}"
    )


def prober(port, path, count, interval):
    """One load-balancer-like prober: `count` GETs, `interval` apart; (statuses, latencies)."""
    statuses, latencies = [], []
    for _ in range(count):
        status, _body, seconds = request(port, path)
        statuses.append(status)
        latencies.append(seconds)
        time.sleep(interval)
    return statuses, latencies


def show_prober(label, statuses, latencies):
    counted = {status: statuses.count(status) for status in sorted(set(statuses))}
    print(
        f"  {label:<34} median {ms(statistics.median(latencies)):>9}   max {ms(max(latencies)):>9}   statuses {counted}"
    )


# --- a Redis that never answers --------------------------------------------------------


# --- connections under a steady stream of probes -----------------------------------------

PROBES_PER_SECOND = 8
BEFORE = (118, 25, 2)  # issue 18, before: new connections, seconds, web workers
AUTHORIZED = re.compile(r"connection authorized: .*application_name=(.*)$")
HELD = """SELECT application_name, count(*) FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() GROUP BY 1 ORDER BY 1"""


def probe_steadily(port, stop):
    """A load balancer's probes: /health/ready/ PROBES_PER_SECOND times a second until `stop` is set."""
    interval = 1 / PROBES_PER_SECOND
    next_at = time.monotonic()
    while not stop.is_set():
        with contextlib.suppress(OSError):
            request(port, "/health/ready/", timeout=5)
        next_at += interval
        stop.wait(max(0.0, next_at - time.monotonic()))


def connections_made(log, start):
    """application_name -> connections authorized in the server's `log` from byte `start` on."""
    with open(log, "rb") as lines:
        lines.seek(start)
        names = (AUTHORIZED.search(line.decode(errors="replace").rstrip()) for line in lines)
        return collections.Counter(found.group(1) for found in names if found)


def held_connections(url):
    import psycopg2

    connection = psycopg2.connect(url, application_name="bench", connect_timeout=5)
    try:
        with connection.cursor() as cursor:
            cursor.execute(HELD)
            return cursor.fetchall()
    finally:
        connection.close()


def processes_behind(name):
    """How many processes share an application_name: a web instance's workers, else one (task worker, command)."""
    _prefix, instance, purpose = [*name.split(" "), "", ""][:3]
    return WORKERS if purpose in ("web", "check", "heartbeat") and not instance.endswith(":worker") else 1


def connections_under_probes(warm_up, seconds):
    print(f"\n4. PostgreSQL connections under {PROBES_PER_SECOND} probes/s of /health/ready/ (log_connections)")
    with (
        tempfile.TemporaryDirectory(prefix="bench-health-pg-") as temp,
        throwaway_postgres(log_connections=True) as url,
    ):
        environment = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
        environment.update(DATABASE_URL=url, DJANGO_SETTINGS_MODULE="portal.settings", SECRET_KEY="bench-health")
        migrate = [sys.executable, "manage.py", "migrate", "--no-input", "-v0"]
        subprocess.run(migrate, cwd=REPO, env=environment, check=True)
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "ops_worker"],
            cwd=REPO,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with portal_gunicorn(environment, workers=WORKERS, threads=THREADS, log=Path(temp) / "gunicorn.log") as (
                _process,
                _port,
                probe_port,
            ):
                stop = threading.Event()
                prober_thread = threading.Thread(target=probe_steadily, args=(probe_port, stop), daemon=True)
                prober_thread.start()
                time.sleep(warm_up)
                start = url.log.stat().st_size
                began = time.monotonic()
                time.sleep(seconds)
                made = connections_made(url.log, start)
                elapsed = time.monotonic() - began
                held = held_connections(url)
                stop.set()
                prober_thread.join()
        finally:
            stop_process(worker)
    minutes = elapsed / 60
    print(f"  gunicorn: portal/gunicorn.conf.py, {WORKERS} workers x {THREADS} threads; a task worker beside it")
    cache_seconds = os.environ.get("PORTAL_READINESS_CACHE_SECONDS", "2")
    print(f"  warm-up {warm_up} s, then a steady stream for {elapsed:.0f} s; verdicts reused for {cache_seconds} s")
    made_all = sum(made.values())
    print(f"  new connections in the steady stream: {made_all} ({made_all / minutes:.1f} per minute; target 0)")
    for name, count in sorted(made.items()):
        per_process = count / processes_behind(name) / minutes
        print(f"    {name:<58} {count:>5}   {per_process:6.1f} per minute per process")
    before, before_seconds, before_workers = BEFORE
    print(
        f"  before (issue 18): {before} in {before_seconds} s from {before_workers} workers,"
        f" {before / before_workers / (before_seconds / 60):.0f} per minute per process"
    )
    print(f"  connections held at the end: {sum(count for _name, count in held)}")
    for name, count in held:
        print(f"    {name:<58} {count:>5}")


# --- main -----------------------------------------------------------------------------


def median_round(results):
    return sorted(results, key=lambda result: result["rps"])[len(results) // 2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3, help="length of each load run")
    parser.add_argument("--rounds", type=int, default=3, help="load runs per target; the median one is shown")
    parser.add_argument("--connections", type=int, default=16, help="concurrent keep-alive connections")
    parser.add_argument("--parts", default="load,connections", help="load (1-3), connections (4), or both")
    parser.add_argument("--warm-up", type=int, default=15, help="seconds of probes before the connections are counted")
    parser.add_argument("--steady", type=int, default=25, help="seconds of probes whose connections are counted")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if "load" in parts:
        load_parts(args)
    if "connections" in parts:
        connections_under_probes(args.warm_up, args.steady)


def load_parts(args):
    client = load_client()

    with tempfile.TemporaryDirectory(prefix="bench-health-") as temp:
        database, log = Path(temp) / "portal.sqlite3", Path(temp) / "gunicorn.log"
        environment = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
        environment.update(
            DATABASE_URL=f"sqlite:///{database}", DJANGO_SETTINGS_MODULE="bench.settings", SECRET_KEY="bench-health"
        )
        migrate = [sys.executable, "manage.py", "migrate", "--no-input", "-v0"]
        subprocess.run(migrate, cwd=REPO, env=environment, check=True)

        print(f"gunicorn: {WORKERS} gthread workers x {THREADS} threads")
        print(f"load: {client}, {args.connections} connections, {args.rounds} rounds of {args.seconds} s per target")
        cache_seconds = os.environ.get("PORTAL_READINESS_CACHE_SECONDS", "2")
        print(f"readiness verdicts reused for {cache_seconds} s (PORTAL_READINESS_CACHE_SECONDS)")

        # Both servers up at once and the targets measured in turn, round after round: a busy
        # neighbour on this machine then slows every target alike. Each shows its median round.
        with (
            gunicorn("bench.bare_app:application", environment, log) as bare_port,
            gunicorn("portal.wsgi:application", environment, log) as port,
        ):
            status, body, _ = request(port, "/health/ready/")
            print(f"readiness here: {status} {body.decode()}")
            urls = {
                "bare": f"http://127.0.0.1:{bare_port}/",
                "live": f"http://127.0.0.1:{port}/health/live/",
                "plain": f"http://127.0.0.1:{port}{PLAIN}",
                "ready": f"http://127.0.0.1:{port}/health/ready/",
            }
            for url in urls.values():
                load(url, 1, args.connections)  # warm up
            rounds = {name: [] for name in urls}
            for _ in range(args.rounds):
                for name, url in urls.items():
                    rounds[name].append(load(url, args.seconds, args.connections))
        bare, live, plain, ready = (median_round(rounds[name]) for name in urls)

        print("\n1. liveness vs a bare WSGI app")
        show("bare WSGI app", bare)
        show("/health/live/", live)
        print(f"  ratio live / bare: {live['rps'] / bare['rps']:.2f}  (target >= 0.5)")
        print("\n2. readiness vs a plain HealthCheckView, same checks")
        show("plain HealthCheckView", plain)
        show("/health/ready/", ready)
        print(f"  ratio ready / plain: {ready['rps'] / plain['rps']:.1f}x  (target >= 10x)")

        hanging = HangingServer(backlog=1024)
        try:
            environment["REDIS_URL"] = f"redis://127.0.0.1:{hanging.port}/0"
            print(f"\n3. REDIS_URL at a listener that accepts and never answers (127.0.0.1:{hanging.port})")
            with gunicorn("portal.wsgi:application", environment, log) as port:
                status, body, seconds = request(port, "/health/ready/")
                print(f"  first readiness answer: {status} {body.decode()} in {ms(seconds)}")
                show_prober("/health/ready/, 1 prober x 20", *prober(port, "/health/ready/", 20, 0.25))
                show_prober("plain HealthCheckView, 1 prober x 10", *prober(port, PLAIN, 10, 0.25))
                ready_url, plain_url = f"http://127.0.0.1:{port}/health/ready/", f"http://127.0.0.1:{port}{PLAIN}"
                show("/health/ready/ under load", load(ready_url, args.seconds, args.connections))
                show("plain HealthCheckView under load", load(plain_url, args.seconds, args.connections))
        finally:
            hanging.close()


if __name__ == "__main__":
    main()
