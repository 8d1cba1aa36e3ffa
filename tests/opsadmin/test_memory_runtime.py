"""The runtime side of fleet memory: each process's figures, published with its heartbeat into a pruned
history, and the soft and hard limits its requests are sampled against."""

import gc
import json
import os
from collections import namedtuple
from datetime import timedelta

import psutil
import pytest
from django.utils import timezone

from opsadmin.models import Instance, InstanceWorker, MemorySample
from opsadmin.runtime import heartbeat, identity, memory, memory_history, memory_limits, recycle

pytestmark = pytest.mark.django_db

MIB = 1024 * 1024
PAGE = 4096
FIGURES = {
    "rss_bytes", "uss_bytes", "pss_bytes", "vms_bytes", "threads", "open_files", "cpu_percent", "gc",
    "uptime_seconds", "requests_served", "limits", "limit_events", "machine", "sampled_at",
}  # fmt: skip
MACHINE = {
    "total_bytes", "available_bytes", "used_bytes", "percent", "swap_total_bytes", "swap_used_bytes",
    "cgroup_limit_bytes", "cgroup_usage_bytes",
}  # fmt: skip


@pytest.fixture(autouse=True)
def fresh_process(settings):
    settings.PORTAL_HEARTBEAT_SECONDS = 5
    settings.PORTAL_MEMORY_SOFT_LIMIT = settings.PORTAL_MEMORY_HARD_LIMIT = None
    settings.PORTAL_MEMORY_SAMPLE_EVERY = 50
    settings.PORTAL_MEMORY_HISTORY_SECONDS = 3600
    for module in (identity, heartbeat, memory, memory_history, memory_limits):
        module.reset()
    yield
    for module in (identity, heartbeat, memory, memory_history, memory_limits):
        module.reset()


# --- figures ----------------------------------------------------------------------------


def test_the_figures_have_every_key_and_are_json():
    figures = memory.figures()

    assert set(figures) == FIGURES
    assert set(figures["gc"]) == {"counts", "collections", "collected", "uncollectable", "frozen"}
    assert len(figures["gc"]["counts"]) == len(figures["gc"]["collections"]) >= 3
    assert set(figures["machine"]) == MACHINE
    assert set(figures["limits"]) == {"soft_bytes", "hard_bytes", "sample_every"}
    assert figures["limit_events"] == {"collections": 0, "recycles": 0}
    assert figures["threads"] >= 1
    assert figures["open_files"] >= 1
    assert figures["rss_bytes"] <= figures["vms_bytes"]
    assert figures["machine"]["total_bytes"] >= figures["machine"]["available_bytes"] > 0
    assert json.loads(json.dumps(figures)) == figures


def test_the_figures_are_real_200_mb_allocated_show_in_rss_and_uss():
    before = memory.figures()
    block = bytearray(200 * MIB)
    for offset in range(0, len(block), PAGE):  # touched page by page: resident, not only reserved
        block[offset] = 1
    after = memory.figures()
    del block

    for figure in ("rss_bytes", "uss_bytes"):
        if before[figure] is None:
            continue  # USS where the OS gives it
        grown = after[figure] - before[figure]
        assert abs(grown - 200 * MIB) <= 20 * MIB, (figure, grown)


def test_full_info_denied_falls_back_to_rss_and_vms(monkeypatch):
    def denied(self):
        raise psutil.AccessDenied(os.getpid())

    monkeypatch.setattr(psutil.Process, "memory_full_info", denied)
    figures = memory.figures()
    assert figures["rss_bytes"] > 0
    assert figures["vms_bytes"] > 0
    assert (figures["uss_bytes"], figures["pss_bytes"]) == (None, None)


def test_a_platform_without_pss_publishes_none_for_it(monkeypatch):
    macos = namedtuple("pfullmem", "rss vms pfaults pageins uss")  # psutil's full memory on macOS: no PSS

    monkeypatch.setattr(psutil.Process, "memory_full_info", lambda self: macos(3 * MIB, 9 * MIB, 0, 0, 2 * MIB))
    figures = memory.figures()
    assert (figures["rss_bytes"], figures["uss_bytes"], figures["pss_bytes"]) == (3 * MIB, 2 * MIB, None)


def test_full_info_not_implemented_here_falls_back_to_rss_and_vms(monkeypatch):
    def not_here(self):
        raise NotImplementedError

    monkeypatch.setattr(psutil.Process, "memory_full_info", not_here)
    figures = memory.figures()
    assert figures["rss_bytes"] > 0
    assert (figures["uss_bytes"], figures["pss_bytes"]) == (None, None)


def test_open_files_not_given_or_refused_are_none_not_zero(monkeypatch):
    def denied(self):
        raise psutil.AccessDenied(os.getpid())

    monkeypatch.setattr(psutil.Process, "num_fds", denied)
    assert memory.figures()["open_files"] is None
    monkeypatch.delattr(psutil.Process, "num_fds")  # neither descriptors nor handles (nor POSIX nor Windows)
    assert not hasattr(psutil.Process, "num_handles")
    assert memory.figures()["open_files"] is None


def test_a_figure_that_fails_is_left_out_and_the_beat_still_lands(monkeypatch):
    def broken(self):
        raise RuntimeError("no threads today")

    monkeypatch.setattr(psutil.Process, "num_threads", broken)
    assert heartbeat.record_heartbeat("web-1", 8000) is True
    figures = InstanceWorker.objects.get().figures
    assert "threads" not in figures
    assert figures["rss_bytes"] > 0


def test_cpu_percent_is_since_the_previous_sample():
    memory.figures()
    sum(range(3_000_000))  # some CPU between two samples
    assert memory.figures()["cpu_percent"] > 0


# --- the container's limit --------------------------------------------------------------


def cgroup(tmp_path, lines, files):
    proc = tmp_path / "proc-cgroup"
    proc.write_text("\n".join(lines) + "\n")
    root = tmp_path / "cgroup"
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text + "\n")
    return root, proc


def test_cgroup_v2_limit_and_usage_of_this_process_group(tmp_path):
    root, proc = cgroup(
        tmp_path,
        ["0::/portal.slice/web"],
        {"portal.slice/web/memory.max": "536870912", "portal.slice/web/memory.current": "1234"},
    )
    assert memory.container_memory(root, proc) == (536870912, 1234)


def test_cgroup_v2_max_means_no_limit(tmp_path):
    root, proc = cgroup(tmp_path, ["0::/"], {"memory.max": "max", "memory.current": "99"})
    assert memory.container_memory(root, proc) == (None, 99)


def test_cgroup_v1_huge_limit_means_no_limit_and_a_real_one_counts(tmp_path):
    files = {
        "memory/docker/abc/memory.limit_in_bytes": "9223372036854771712",
        "memory/docker/abc/memory.usage_in_bytes": "5",
    }
    root, proc = cgroup(tmp_path, ["4:memory:/docker/abc", "3:cpu,cpuacct:/docker/abc"], files)
    assert memory.container_memory(root, proc) == (None, 5)
    (root / "memory/docker/abc/memory.limit_in_bytes").write_text("1073741824\n")
    assert memory.container_memory(root, proc) == (1073741824, 5)


def test_a_container_sees_its_group_at_the_mount_root(tmp_path):
    root, proc = cgroup(tmp_path, ["0::/kubepods/pod1/c1"], {"memory.max": "268435456", "memory.current": "7"})
    assert memory.container_memory(root, proc) == (268435456, 7)


def test_no_cgroup_files_no_container_figures(tmp_path):
    assert memory.container_memory(tmp_path / "none", tmp_path / "missing") == (None, None)
    machine = memory.machine(tmp_path / "none", tmp_path / "missing")
    assert (machine["cgroup_limit_bytes"], machine["cgroup_usage_bytes"]) == (None, None)


# --- published with the heartbeat, into a pruned history --------------------------------


def test_the_beat_publishes_the_figures_and_appends_a_sample():
    assert heartbeat.record_heartbeat("web-1", 8000) is True

    worker = InstanceWorker.objects.get()
    assert set(worker.figures) == FIGURES
    assert worker.rss_bytes == worker.figures["rss_bytes"]
    sample = MemorySample.objects.get()
    assert (sample.instance_id, sample.pid, sample.at, sample.rss_bytes) == (
        "web-1:8000", os.getpid(), worker.last_seen_at, worker.rss_bytes,
    )  # fmt: skip


def test_samples_older_than_the_history_are_pruned_at_most_once_a_minute(settings, monkeypatch):
    settings.PORTAL_MEMORY_HISTORY_SECONDS = 600
    now = timezone.now()
    instance = Instance.objects.create(id="web-1:8000", host="web-1", port="8000", started_at=now, last_seen_at=now)
    for minutes in (30, 11, 9):
        MemorySample.objects.create(instance=instance, pid=1, at=now - timedelta(minutes=minutes), rss_bytes=1)
    clock = [1000.0]
    monkeypatch.setattr(memory_history, "_clock", lambda: clock[0])

    memory_history.record("web-1:8000", now, 2)
    assert sorted(MemorySample.objects.values_list("rss_bytes", flat=True)) == [1, 2]  # the 9-minute-old one stays

    MemorySample.objects.create(instance=instance, pid=1, at=now - timedelta(minutes=20), rss_bytes=3)
    clock[0] += 59
    memory_history.record("web-1:8000", now, 4)
    assert MemorySample.objects.filter(rss_bytes=3).exists()  # within the minute: not pruned again
    clock[0] += 1
    memory_history.record("web-1:8000", now, 5)
    assert not MemorySample.objects.filter(rss_bytes=3).exists()


def test_a_prune_deletes_a_bounded_batch(monkeypatch):
    monkeypatch.setattr(memory_history, "PRUNE_BATCH", 2)
    now = timezone.now()
    instance = Instance.objects.create(id="web-1:8000", host="web-1", port="8000", started_at=now, last_seen_at=now)
    for seconds in (5, 4, 3):
        MemorySample.objects.create(
            instance=instance, pid=1, at=now - timedelta(hours=2, seconds=seconds), rss_bytes=seconds
        )
    assert memory_history.prune(now - timedelta(hours=1)) == 2
    assert list(MemorySample.objects.values_list("rss_bytes", flat=True)) == [3]  # the oldest go first


# --- limits -----------------------------------------------------------------------------


def answer(client, times):
    for _ in range(times):
        assert client.get("/admin/login/").status_code == 200


def test_requests_are_counted_and_shown_with_the_limits(client, settings):
    settings.PORTAL_MEMORY_SOFT_LIMIT, settings.PORTAL_MEMORY_HARD_LIMIT = 512 * MIB, 1024 * MIB
    answer(client, 3)
    figures = memory.figures()
    assert figures["requests_served"] == 3
    assert figures["limits"] == {"soft_bytes": 512 * MIB, "hard_bytes": 1024 * MIB, "sample_every": 50}


def test_above_the_soft_limit_every_nth_request_runs_a_full_collection(client, settings):
    settings.PORTAL_MEMORY_SOFT_LIMIT, settings.PORTAL_MEMORY_SAMPLE_EVERY = 1, 3
    full_before = gc.get_stats()[2]["collections"]

    answer(client, 2)
    assert memory_limits.limit_events() == {"collections": 0, "recycles": 0}  # not sampled yet
    answer(client, 4)

    assert memory_limits.limit_events() == {"collections": 2, "recycles": 0}
    assert gc.get_stats()[2]["collections"] >= full_before + 2


def test_below_the_soft_limit_nothing_happens(client, settings):
    settings.PORTAL_MEMORY_SOFT_LIMIT, settings.PORTAL_MEMORY_SAMPLE_EVERY = 1 << 50, 1
    answer(client, 3)
    assert memory_limits.limit_events() == {"collections": 0, "recycles": 0}


def test_above_the_hard_limit_a_gunicorn_worker_asks_once_to_exit(settings, monkeypatch, caplog):
    settings.PORTAL_MEMORY_HARD_LIMIT = 100 * MIB
    asked = []
    monkeypatch.setattr(recycle, "exit_gracefully", lambda: asked.append(os.getpid()))

    memory_limits.enforce(200 * MIB, can_recycle=True)
    memory_limits.enforce(200 * MIB, can_recycle=True)  # a second sample while the worker winds down

    assert asked == [os.getpid()]
    assert memory_limits.limit_events() == {"collections": 0, "recycles": 1}
    said = f"pid {os.getpid()}: RSS {200 * MIB} bytes above the hard limit {100 * MIB} after 0 requests"
    assert [r.getMessage() for r in caplog.records if "hard limit" in r.getMessage()] == [f"{said}: exiting gracefully"]


def test_above_the_hard_limit_under_runserver_it_is_logged_once_not_recycled(client, settings, monkeypatch, caplog):
    settings.PORTAL_MEMORY_HARD_LIMIT, settings.PORTAL_MEMORY_SAMPLE_EVERY = 1, 1
    monkeypatch.setattr(recycle, "exit_gracefully", lambda: pytest.fail("the test client is not gunicorn"))

    answer(client, 3)

    assert memory_limits.limit_events() == {"collections": 0, "recycles": 0}
    assert len([r for r in caplog.records if "not under gunicorn: not recycled" in r.getMessage()]) == 1
