"""What the database breaker is worth: latencies while PostgreSQL is down or hung, with and without it, and
what it costs when all is well. Prints; never asserts.

    .venv/bin/python bench/resilience.py [--seconds 5] [--rounds 3] [--connections 8]

Two portals run side by side under the production gunicorn configuration (2 workers x 4
threads, probes on their own listener) on the same throwaway PostgreSQL and Redis:
"breaker", the portal as shipped, and "no breaker", the same with Django's own PostgreSQL
engine (PORTAL_DATABASE_GUARD=0: no breaker, no retries, no client deadline).
  1. the healthy path: load on a database-backed ops API read, rounds alternating between
     the two; requests per second and their ratio (target: the breaker costs at most 5 %);
  2. an outage: PostgreSQL stopped for OUTAGE seconds under the mixed stream of staff pages
     and API reads of tests/system/traffic.py, sent to both at once; p50/p99/max of the
     requests that were waiting at any time during it (sent then, or in flight when it
     began), and their statuses;
  3. a hang: PostgreSQL stopped with SIGSTOP for HANG seconds; the same.
"""

import argparse
import contextlib
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.common import portal_on_throwaway_servers  # noqa: E402
from bench.health import load, load_client, ms, show  # noqa: E402
from tests.system.traffic import Traffic, latency, serve  # noqa: E402

OUTAGE, HANG = 6, 10  # seconds
SETTLE = 12  # seconds after each: the breaker's reset timeout, its trial, and a margin
READ = "/api/ops/runs/"
VARIANTS = {"breaker": {}, "no breaker": {"PORTAL_DATABASE_GUARD": "0"}}


def healthy_path(stacks, seconds, rounds, connections):
    print(f"\n1. Healthy path: GET {READ} with an ops token, {connections} connections, {rounds} rounds of {seconds} s")
    results = {name: [] for name in stacks}
    for _ in range(rounds):
        for name, stack in stacks.items():  # in turn, round after round: a busy neighbour slows both alike
            headers = {"Authorization": f"Bearer {stack.token}"}
            results[name].append(load(f"http://127.0.0.1:{stack.port}{READ}", seconds, connections, headers))
    medians = {}
    for name, runs in results.items():
        medians[name] = sorted(runs, key=lambda run: run["rps"])[len(runs) // 2]
        show(name, medians[name])
    ratio = medians["breaker"]["rps"] / medians["no breaker"]["rps"]
    print(f"  breaker / no breaker: {ratio:.3f} of the requests per second (target >= 0.95)")


def under_traffic(stacks, what, seconds, start, end):
    """Send the mixed stream to every portal while `start()` ... `end()` takes PostgreSQL away; print latencies."""
    with contextlib.ExitStack() as exits:
        traffic = {name: exits.enter_context(Traffic(stack)) for name, stack in stacks.items()}
        time.sleep(2)
        began = time.monotonic()
        start()
        time.sleep(seconds)
        end()
        ended = time.monotonic()
        time.sleep(SETTLE)
    print(f"\n{what} for {seconds} s: requests waiting at any time meanwhile (staff pages and API reads; probes apart)")
    for name, recorded in traffic.items():
        for kinds, label in ((("page", "api"), "requests"), (("probe",), "probes")):
            answers = recorded.meeting(began, ended, *kinds)
            p50, p99, most = latency(answers)
            statuses = Counter(answer.status or "no answer" for answer in answers)
            print(
                f"  {name + ', ' + label:<24} {len(answers):>5,} asked  p50 {ms(p50):>9}   p99 {ms(p99):>9}"
                f"   max {ms(most):>9}   {dict(sorted(statuses.items(), key=str))}"
            )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of each healthy-path load run")
    parser.add_argument("--rounds", type=int, default=3, help="healthy-path runs per portal; the median is shown")
    parser.add_argument("--connections", type=int, default=8, help="concurrent keep-alive connections")
    args = parser.parse_args()
    print(f"gunicorn: the portal's configuration, 2 workers x 4 threads each; load: {load_client()}")
    with (
        portal_on_throwaway_servers("bench-resilience-") as (root, postgres, redis, environment, credentials),
        contextlib.ExitStack() as servers,
    ):
        stacks = {
            name: servers.enter_context(
                serve(environment | extra, credentials, postgres, redis, root / f"{len(extra)}.log")
            )
            for name, extra in VARIANTS.items()
        }
        healthy_path(stacks, args.seconds, args.rounds, args.connections)
        under_traffic(
            stacks,
            "2. PostgreSQL stopped (pg_ctl stop -m immediate)",
            OUTAGE,
            lambda: postgres.stop("immediate"),
            postgres.start,
        )
        under_traffic(
            stacks, "3. PostgreSQL hung (SIGSTOP to every server process)", HANG, postgres.pause, postgres.resume
        )


if __name__ == "__main__":
    main()
