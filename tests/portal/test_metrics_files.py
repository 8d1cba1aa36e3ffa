"""A dead worker's metrics files folded into the archives: the collector reads the same totals before and after, its
files are gone, and a fold and a scrape never overlap. Each fake worker is a process of its own writing through
prometheus_client's multiprocess mode, with instruments of each kind the portal uses."""

import os
import subprocess
import sys
import threading

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

# Before the portal's modules: metrics_files, a POSIX serving module, imports fcntl itself.
fcntl = pytest.importorskip("fcntl", reason="POSIX only: gunicorn's metrics files are locked with fcntl")

from opsadmin.runtime.metrics import scrape  # noqa: E402
from portal import metrics_files  # noqa: E402

pytestmark = pytest.mark.posix

WORKER = """
import os, sys
from prometheus_client import Counter, Gauge, Histogram

n = int(sys.argv[1])
requests = Counter("requests", "Requests.", ["route", "status"])
seconds = Histogram("seconds", "Seconds.", ["route"], buckets=(0.25, 1.0))
memory = Gauge("memory", "Memory.", multiprocess_mode="liveall")
readiness = Gauge("readiness", "Readiness.", ["status"], multiprocess_mode="livemostrecent")
requests.labels("/a/", "200").inc(n)
requests.labels(f"/only-{n}/", "500").inc()
for value in (0.25, 0.5, 3.0)[:n]:
    seconds.labels("/a/").observe(value)
memory.set(1000 * n)
readiness.labels("ok").set(1)
print(os.getpid())
"""


def worker(directory, n):
    """A fake worker's pid, once it has written its values and exited."""
    environment = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(directory))
    done = subprocess.run([sys.executable, "-c", WORKER, str(n)], env=environment, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


def collected(directory):
    """{(sample, labels): value} of the directory as a scrape reads it, and the live gauges' pids apart."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, str(directory))
    counts, live = {}, set()
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            if family.type == "gauge":
                live.add(sample.labels.get("pid"))
            else:
                counts[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return counts, live - {None}


def files(directory):
    return {path.name for path in directory.glob("*.db")}


def test_folded_the_totals_are_the_same_and_the_files_gone(tmp_path):
    pids = [worker(tmp_path, n) for n in (1, 2, 3)]
    before, live = collected(tmp_path)
    assert live == {str(pid) for pid in pids}
    assert before["requests_total", (("route", "/a/"), ("status", "200"))] == 6
    assert before["seconds_count", (("route", "/a/"),)] == 6

    metrics_files.worker_exited(pids[0], tmp_path)
    assert collected(tmp_path) == (before, {str(pid) for pid in pids[1:]})
    metrics_files.worker_exited(pids[1], tmp_path)  # into the archives the first fold made: they add up
    assert collected(tmp_path) == (before, {str(pids[2])})
    assert files(tmp_path) == {
        "counter_archive.db",
        "histogram_archive.db",
        *(f"{kind}_{pids[2]}.db" for kind in ("counter", "histogram", "gauge_liveall", "gauge_livemostrecent")),
    }

    metrics_files.worker_exited(pids[2], tmp_path)
    assert collected(tmp_path) == (before, set())
    assert files(tmp_path) == {"counter_archive.db", "histogram_archive.db"}


def test_a_fold_waits_for_a_scrape_reading_the_directory(tmp_path):
    pid = worker(tmp_path, 1)
    folding = threading.Thread(target=metrics_files.worker_exited, args=(pid, tmp_path))
    with metrics_files.reading(tmp_path):
        folding.start()
        folding.join(0.3)
        assert folding.is_alive()
        assert f"counter_{pid}.db" in files(tmp_path)
    folding.join(5)
    assert not folding.is_alive()
    assert f"counter_{pid}.db" not in files(tmp_path)


def test_a_scrape_waits_for_a_fold(tmp_path):
    worker(tmp_path, 2)
    read = []
    scraping = threading.Thread(target=lambda: read.append(scrape.workers_values(str(tmp_path))))
    with (tmp_path / metrics_files.LOCK_FILE).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as a fold holds it
        scraping.start()
        scraping.join(0.3)
        assert scraping.is_alive()
    scraping.join(5)
    assert {family.name for family in read[0]} == {"requests", "seconds", "memory", "readiness"}
