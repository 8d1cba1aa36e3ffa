"""POSIX serving: gunicorn's metrics directory (PORTAL_METRICS_DIR), a dead worker's files folded into archives.

Locked with flock, and only gunicorn's master folds: never imported on the development path, where a scrape reads
the process's own registry. Why fold: prometheus_client's multiprocess mode gives every worker files of its own, and
a scrape reads every file in the directory (about 0.6 ms per worker's files, bench/observability.py). A dead
worker's counts must stay, or the instance's totals would go back (a counter reset to Prometheus: a huge false
rate), so its files used to stay too, and with workers recycled (PORTAL_MAX_REQUESTS, the memory limits) the
directory grew by a set per recycle. Folded as the master reaps it (child_exit), the directory holds the live
workers' files and one archive per kind:

- counter_<pid>.db, histogram_<pid>.db, summary_<pid>.db: folded. Each value adds up with the archive's under the
  same key (metric, sample, labels, help): the collector sums a counter's and a summary's values across files, and
  a histogram's too (its files hold each bucket's own count, made cumulative only when read), so the archive read
  as one more file gives the same totals. Named <kind>_archive.db, it is read like any other file (the collector
  takes the kind from the name's first part). The portal has no summary; one would fold the same way.
- gauge_live*_<pid>.db (the portal's gauges: "liveall" memory, "livemostrecent" readiness): dropped, as
  prometheus_client's mark_process_dead does: a live gauge is about the live workers only.
- gauge_<all|max|min|sum|mostrecent>_<pid>.db: kept as they are (the portal has none): the collector keeps a dead
  worker's value in those modes, per pid ("all") or weighed against the others' (max, min, sum, mostrecent).

Exact: no scrape sees a total go down (the worker's files gone, its values not yet in the archive) or counted
twice (in the archive and still in its files). A fold holds an exclusive flock on LOCK_FILE while it adds into the
archive and deletes the files; a scrape holds it shared while it reads the directory (reading(), a few ms), so the
two never overlap; the lock goes with a process that dies holding it. Written through mmap, the archive is in the
page cache the readers read at once: no fsync. Nor any journal: if the master dies mid-fold, the directory is
emptied before the next server's first fork anyway (portal/gunicorn.conf.py, when_ready), archives included.
A histogram's _sum may differ in its last bits (float additions in another order); counts are exact.
"""

import contextlib
import fcntl
import os
from pathlib import Path

from prometheus_client import multiprocess
from prometheus_client.mmap_dict import MmapedDict

LOCK_FILE = "metrics.lock"  # not *.db: the collector never reads it, and the start's clearing leaves it
FOLDED = ("counter", "histogram", "summary")
ARCHIVE = "archive"  # in place of a pid: <kind>_archive.db


@contextlib.contextmanager
def reading(directory):
    """While the directory's files are read: no fold in between."""
    with _locked(directory, fcntl.LOCK_SH):
        yield


def worker_exited(pid, directory):
    """In the gunicorn master, once worker `pid` has exited: its counts folded into the archives, its files gone."""
    directory = Path(directory)
    with _locked(directory, fcntl.LOCK_EX):
        for kind in FOLDED:
            fold(directory / f"{kind}_{pid}.db", directory / f"{kind}_{ARCHIVE}.db")
    multiprocess.mark_process_dead(pid, str(directory))  # its live gauges: a reader tolerates their going


def fold(dead, archive):
    """`dead`'s values added into `archive` (made if missing), then `dead` deleted. The caller holds the lock."""
    try:
        values = list(MmapedDict.read_all_values_from_file(str(dead)))
    except FileNotFoundError:  # a worker that never counted that kind
        return
    into = MmapedDict(str(archive))
    try:
        for key, value, _timestamp, _position in values:
            total, _ = into.read_value(key)
            into.write_value(key, total + value, 0.0)  # counters, histograms, summaries: no timestamp
    finally:
        into.close()
    dead.unlink()


@contextlib.contextmanager
def _locked(directory, operation):
    descriptor = os.open(Path(directory) / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, operation)
        yield
    finally:
        os.close(descriptor)  # the lock with it
