"""Clearing one cache alias out of a big shared Redis database: speed, the slowest command, and what stayed.

    .venv/bin/python bench/caches.py [--keys 1000000] [--others 1000000] [--batch 1000]

Always on a throwaway Redis (it writes millions of keys). Fills `--keys` keys under the
"default" alias's prefix and `--others` under the "ratelimit" alias's (plus a few keys of
no alias), then runs `clear_alias("default")` (dry run first, then for real) while
SLOWLOG records every command and a second client PINGs every 10 ms. Prints keys per
second, the slowest single command Redis ran during the clear (target: under 50 ms), the
worst PING another client waited, and the other keys counted before and after (target:
all kept). Prints; never asserts.
"""

import argparse
import multiprocessing
import time

from common import django_with_redis

FILL_CHUNK = 10_000  # key/value pairs per MSET
VALUE = b"x" * 32
NOT_THE_CLEAR = {"SLOWLOG", "PING", "HELLO", "CLIENT"}  # the bench's and the probe's own commands
UNRELATED = [b"unrelated:1", b"scanner:2:old-version", b"scannerx:1:lookalike"]


def fill(client, make_key, count, label):
    started = time.perf_counter()
    pipeline = client.pipeline(transaction=False)
    for start in range(0, count, FILL_CHUNK):
        pipeline.mset({make_key(f"bench:{i}"): VALUE for i in range(start, min(start + FILL_CHUNK, count))})
        if len(pipeline) >= 10:
            pipeline.execute()
    pipeline.execute()
    print(f"filled {count:,} keys of {label} in {time.perf_counter() - started:.1f} s", flush=True)


def count(client, match):
    cursor, total = 0, 0
    while True:
        cursor, keys = client.scan(cursor=cursor, match=match, count=10_000)
        total += len(keys)
        if cursor == 0:
            return total


def others(client):
    return count(client, "ratelimit:1:*") + sum(client.exists(key) for key in UNRELATED)


class PingProbe:
    """Another client of the same Redis, in its own process (no GIL shared with the clear): PING every 10 ms."""

    def __init__(self, url):
        context = multiprocessing.get_context("spawn")
        self.stop, self.results = context.Event(), context.Queue()
        self.process = context.Process(target=_ping, args=(url, self.stop, self.results), daemon=True)
        self.worst, self.pings = 0.0, 0

    def __enter__(self):
        self.process.start()
        self.results.get(timeout=30)  # connected and pinging
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.worst, self.pings = self.results.get(timeout=30)
        self.process.join()


def _ping(url, stop, results):
    import redis

    client, worst, pings = redis.Redis.from_url(url), 0.0, 0
    client.ping()
    results.put("ready")
    while not stop.wait(0.01):
        started = time.perf_counter()
        client.ping()
        worst, pings = max(worst, time.perf_counter() - started), pings + 1
    results.put((worst, pings))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=1_000_000, help="keys of the alias to clear")
    parser.add_argument("--others", type=int, default=1_000_000, help="keys of another alias, to keep")
    parser.add_argument("--batch", type=int, default=1000, help="SCAN COUNT and keys per UNLINK")
    args = parser.parse_args()

    with django_with_redis() as url:
        import redis
        from django.core.cache import caches

        from opsadmin.operations.caches.clearing import clear_alias

        raw = redis.Redis.from_url(url)
        fill(raw, caches["default"].make_key, args.keys, "default (scanner:1:*)")
        fill(raw, caches["ratelimit"].make_key, args.others, "ratelimit (ratelimit:1:*)")
        raw.mset(dict.fromkeys(UNRELATED, b"keep"))
        others_before, dbsize_before = others(raw), raw.dbsize()
        memory = raw.info("memory")["used_memory_human"]
        print(f"database: {dbsize_before:,} keys, {memory}; other keys: {others_before:,}", flush=True)

        dry = clear_alias("default", dry_run=True, batch=args.batch)
        print(f"dry run: {dry.keys_matched:,} keys matched in {dry.seconds:.2f} s ({dry.keys_per_second:,} keys/s)")

        raw.config_set("slowlog-log-slower-than", 0)  # every command, with its duration in microseconds
        raw.config_set("slowlog-max-len", 1_000_000)
        raw.config_set("latency-monitor-threshold", 10)
        raw.latency_reset()
        raw.slowlog_reset()
        with PingProbe(url) as probe:
            report = clear_alias("default", batch=args.batch)
        log = [entry for entry in raw.slowlog_get(-1) if _name(entry) not in NOT_THE_CLEAR]
        latency = raw.latency_latest()
        raw.config_set("slowlog-log-slower-than", 10_000)

        others_after, dbsize_after = others(raw), raw.dbsize()
        print()
        print(f"clear_alias('default', batch={args.batch}): {report.summary}")
        print(f"  keys per second:        {report.keys_per_second:,}")
        by_command = {}
        for entry in log:
            by_command.setdefault(_name(entry), []).append(entry["duration"])
        for name, durations in sorted(by_command.items()):
            durations.sort()
            p99 = durations[int(len(durations) * 0.99) - 1] if len(durations) > 1 else durations[0]
            print(
                f"  {name:<8} {len(durations):>6,} commands, slowest {durations[-1] / 1000:7.2f} ms,"
                f" p99 {p99 / 1000:6.2f} ms, total {sum(durations) / 1e6:5.2f} s"
            )
        slowest = max(log, key=lambda entry: entry["duration"])
        verdict = "under" if slowest["duration"] < 50_000 else "OVER"
        print(
            f"  slowest single command: {_name(slowest)} {slowest['duration'] / 1000:.2f} ms"
            f" ({verdict} the 50 ms target; SLOWLOG, {len(log):,} commands logged)"
        )
        print(f"  worst PING of another client during the clear: {probe.worst * 1000:.2f} ms ({probe.pings} pings)")
        print(f"  LATENCY events over 10 ms: {latency or 'none'}")
        kept = "all kept" if others_after == others_before else "SOME LOST"
        print(f"  other keys before / after: {others_before:,} / {others_after:,} ({kept})")
        print(f"  database before / after: {dbsize_before:,} / {dbsize_after:,} keys")
        raw.close()


def _name(entry):
    command = entry["command"]
    command = command.decode() if isinstance(command, bytes) else str(command)
    return command.split(" ", 1)[0].upper()


if __name__ == "__main__":
    main()
