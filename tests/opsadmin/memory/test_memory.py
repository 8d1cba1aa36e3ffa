"""The memory capability: its read's statuses from the figures workers publish, its writes reaching exactly the
workers chosen (each answering for itself), recycling refused for a whole instance, the allocation snapshot on
the run's page, the command's exit codes, the page and its chart, and the memory check's threshold."""

import json
import os
import time
from datetime import timedelta
from io import StringIO
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from opsadmin.health.checks import configured_checks
from opsadmin.models import Instance, InstanceWorker, MemorySample, OpsRun, RunTarget
from opsadmin.operations.memory import collecting, history, snapshot
from opsadmin.operations.memory.sections import fleet_memory
from opsadmin.runtime import identity, recycle
from opsadmin.runtime.heartbeat import ProcessThread, record_heartbeat
from opsadmin.runtime.identity import HOST
from opsadmin.spine import channel
from opsadmin.spine.results import FAILING, OK, WARNING
from opsadmin.spine.runs import InvalidArguments
from tests.helpers import OPERATORS, VIEWERS, exit_code, logged_in, post_json, run_write

pytestmark = pytest.mark.django_db

MiB = 1024 * 1024
PAGE = "/admin/ops/memory/"
INSTANCE = f"{HOST}:8000"


def published(rss=100 * MiB, soft=None, hard=None, percent=40.0, cgroup=(None, 500 * MiB), requests=1200):
    """A figures document as the runtime's sampler publishes it."""
    return {
        "rss_bytes": rss,
        "uss_bytes": rss // 2,
        "pss_bytes": None,
        "vms_bytes": rss * 4,
        "threads": 6,
        "open_files": 3,
        "cpu_percent": 1.5,
        "gc": {
            "counts": [10, 2, 1],
            "collections": [300, 20, 2],
            "collected": [900, 40, 5],
            "uncollectable": [0, 0, 0],
            "frozen": 51234,
        },
        "uptime_seconds": 3600.0,
        "requests_served": requests,
        "limits": {"soft_bytes": soft, "hard_bytes": hard, "sample_every": 50},
        "limit_events": {"collections": 2, "recycles": 0},
        "machine": {
            "total_bytes": 8192 * MiB,
            "available_bytes": 4096 * MiB,
            "used_bytes": 4096 * MiB,
            "percent": percent,
            "swap_total_bytes": 0,
            "swap_used_bytes": 0,
            "cgroup_limit_bytes": cgroup[0],
            "cgroup_usage_bytes": cgroup[1],
        },
        "sampled_at": timezone.now().isoformat(),
    }


def worker(instance="web-1:8000", pid=101, kind="web", seen_ago=0, **figures_kwargs):
    now = timezone.now()
    host, port = instance.split(":")
    Instance.objects.get_or_create(
        id=instance, defaults={"host": host, "port": port, "started_at": now, "last_seen_at": now}
    )
    return InstanceWorker.objects.create(
        instance_id=instance,
        pid=pid,
        kind=kind,
        started_at=now - timedelta(hours=1),
        last_seen_at=now - timedelta(seconds=seen_ago),
        figures=published(**figures_kwargs),
        rss_bytes=figures_kwargs.get("rss", 100 * MiB),
    )


@pytest.fixture
def this_process():
    """This test process as a live web worker of web-1:8000."""
    record_heartbeat("web-1", "8000", force=True)
    return ("web-1:8000", os.getpid())


def test_every_live_worker_of_every_instance_with_the_total_and_the_largest():
    worker(pid=101, rss=100 * MiB)
    worker(pid=102, rss=300 * MiB)
    worker("web-2:8000", pid=201, rss=50 * MiB)
    worker("web-2:worker", pid=301, kind="task", rss=80 * MiB)
    worker("web-3:8000", pid=401, seen_ago=3600)  # gone: not listed
    section = fleet_memory()
    assert (section.status, section.headline) == (OK, "530.0 MiB in 4 workers")
    assert section.detail == "largest web-1:8000 pid 102: 300.0 MiB RSS"
    data = section.data
    assert [w.process for w in data.workers] == [
        "web-1:8000 pid 101",
        "web-1:8000 pid 102",
        "web-2:8000 pid 201",
        "web-2:worker pid 301",
    ]
    assert [w.kind for w in data.workers] == ["web", "web", "web", "task"]
    assert [m.host for m in data.machines] == ["web-1", "web-2"]
    assert data.this_process["rss_bytes"] > 0
    assert set(data.this_process) == set(published())


def test_a_worker_over_its_soft_limit_warns_and_over_its_hard_limit_fails():
    worker(pid=101, rss=300 * MiB, soft=256 * MiB, hard=512 * MiB)
    section = fleet_memory()
    assert section.status == WARNING
    assert section.data.problems == ["web-1:8000 pid 101 above its soft limit (300.0 MiB RSS)"]
    worker(pid=102, rss=600 * MiB, soft=256 * MiB, hard=512 * MiB)
    section = fleet_memory()
    assert section.status == FAILING
    assert section.data.workers[0].process == "web-1:8000 pid 102"  # problems first
    assert section.lines[0] == "web-1:8000 pid 102 above its hard limit (600.0 MiB RSS)"


@pytest.mark.parametrize(
    ("machine", "status"),
    [
        ({"percent": 89.0}, OK),
        ({"percent": 90.0}, WARNING),
        ({"percent": 98.5}, FAILING),
        ({"cgroup": (1000 * MiB, 950 * MiB)}, WARNING),
        ({"cgroup": (1000 * MiB, 990 * MiB)}, FAILING),
    ],
)
def test_a_machine_or_container_near_full_warns_then_fails(machine, status):
    worker(**machine)
    assert fleet_memory().status == status


def test_the_warning_threshold_is_the_setting_and_the_health_check_uses_it():
    worker(percent=80.0)
    with override_settings(PORTAL_MEMORY_WARN_PERCENT=75.0):
        assert fleet_memory().status == WARNING
    (memory,) = [check for check in configured_checks() if check.name == "memory"]
    assert memory.inner.max_memory_usage_percent == settings.PORTAL_MEMORY_WARN_PERCENT
    assert not memory.critical  # shown in the detailed view, never readiness


def test_a_worker_without_published_figures_is_listed_with_its_heartbeat_rss():
    now = timezone.now()
    Instance.objects.create(id="web-1:8000", host="web-1", port="8000", started_at=now, last_seen_at=now)
    InstanceWorker.objects.create(instance_id="web-1:8000", pid=7, started_at=now, last_seen_at=now, rss_bytes=MiB)
    section = fleet_memory()
    assert section.headline == "1.0 MiB in 1 worker"
    assert section.lines == ["web-1:8000 pid 7 (web): 1.0 MiB RSS, no figures published yet"]


def test_the_api_path_answers_this_worker_and_the_fleet(client):
    worker(rss=4096 * MiB)  # larger than the test process, which beats as it answers
    assert client.get("/api/ops/system/memory/").status_code == 401
    body = logged_in(VIEWERS).get("/api/ops/system/memory/").json()
    assert body["this_process"]["gc"]["frozen"] >= 0
    assert "web-1:8000 pid 101" in [w["process"] for w in body["workers"]]  # and the process that answered
    assert body["largest"]["process"] == "web-1:8000 pid 101"


def test_collect_garbage_sent_to_one_pid_reaches_exactly_that_worker(this_process):
    worker(pid=4242)  # another live worker of the same instance: nobody answers for it here
    mine = f"web-1:8000 pid {os.getpid()}"
    run = run_write("collect_garbage", {"processes": [mine]})
    assert (run.status, run.target) == ("queued", "chosen_processes")
    assert list(run.targets.values_list("instance", "pid")) == [this_process]
    assert channel.deliver("web-1:8000", 4242) == 0
    assert channel.deliver(*this_process) == 1
    run.refresh_from_db()
    assert run.status == "succeeded"
    answer = run.targets.get().result
    assert answer["process"] == mine
    assert answer["collection"]["collected"] >= 0
    assert answer["collection"]["rss_before_bytes"] > 0
    assert run.summary.startswith("1 of 1 process done: collected ")


def test_a_selection_of_several_workers_sends_one_target_to_each(this_process):
    worker(pid=4242)
    worker("web-2:worker", pid=77, kind="task")
    chosen = ["web-1:8000 pid 4242", "web-2:worker pid 77"]
    run = run_write("collect_garbage", {"processes": chosen})
    assert sorted(run.targets.values_list("instance", "pid")) == [("web-1:8000", 4242), ("web-2:worker", 77)]


def test_recycling_every_web_worker_of_an_instance_is_refused_on_every_door(this_process):
    worker(pid=4242)
    every = [f"web-1:8000 pid {os.getpid()}", "web-1:8000 pid 4242"]
    operator = logged_in(OPERATORS)
    refused = post_json(operator, "/api/ops/memory/recycle_workers/", {"processes": every})
    assert refused.status_code == 400
    assert "every web worker of web-1:8000" in refused.json()["fields"]["__all__"][0]
    assert exit_code("ops", "run", "recycle_workers", *(f"--set=processes={p}" for p in every), stderr=StringIO()) == 2
    assert sorted(OpsRun.objects.values_list("door", "status")) == [("api", "refused"), ("cli", "refused")]
    assert not RunTarget.objects.exists()


def test_a_recycled_worker_answers_before_it_stops(this_process, monkeypatch):
    worker(pid=4242)
    stopped = []
    monkeypatch.setattr(identity, "gunicorn_worker", lambda: True)
    monkeypatch.setattr(recycle, "exit_gracefully", lambda: stopped.append(RunTarget.objects.get().status))
    run = run_write("recycle_workers", {"processes": [f"web-1:8000 pid {os.getpid()}"]})
    channel.deliver(*this_process)
    assert stopped == ["succeeded"]  # its answer was recorded before the signal
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert "recycling at" in run.summary


def test_a_worker_gunicorn_does_not_supervise_refuses_to_recycle(this_process):
    worker(pid=4242)
    run = run_write("recycle_workers", {"processes": [f"web-1:8000 pid {os.getpid()}"]})
    channel.deliver(*this_process)  # pytest is no gunicorn worker: nothing would replace it
    assert run.targets.get().status == "refused"
    assert "not a gunicorn worker" in run.targets.get().error


def test_work_outside_the_channel_cannot_ask_to_act_after_answering():
    with pytest.raises(RuntimeError, match="outside work delivered"):
        channel.after_answering(lambda: None)


def test_an_allocation_snapshot_lists_the_top_sites_on_the_run_page(this_process, monkeypatch):
    held = []

    def busy(seconds):  # the worker's other threads allocating while it traces
        held.extend(bytearray(1000) for _ in range(2000))

    monkeypatch.setattr(snapshot, "time", SimpleNamespace(sleep=busy, monotonic=time.monotonic))
    run = run_write("allocation_snapshot", {"instance": "web-1:8000", "pid": os.getpid(), "seconds": 1, "top": 5})
    channel.deliver(*this_process)
    run.refresh_from_db()
    assert run.status == "succeeded"
    answer = run.targets.get().result
    assert 0 < len(answer["steps"]) <= 5
    assert answer["snapshot"]["traced_bytes"] >= 2000 * 1000
    page = logged_in(OPERATORS).get(f"/admin/opsadmin/opsrun/{run.pk}/change/").content.decode()
    assert answer["steps"][0]["name"] in page
    assert "target-steps" in page


def test_an_allocation_snapshot_is_bounded():
    with pytest.raises(InvalidArguments, match="seconds"):
        run_write("allocation_snapshot", {"instance": "web-1:8000", "pid": 1, "seconds": 600, "top": 5})


def test_the_command_reports_this_process_and_the_fleet_and_collects_with_gc():
    worker()
    out = StringIO()
    assert exit_code("memory", "--gc", "--json", stdout=out) == 0
    answer = json.loads(out.getvalue())
    assert answer["collection"]["rss_before_bytes"] > 0
    assert answer["status"] == OK
    text = StringIO()
    assert exit_code("memory", stdout=text) == 0
    assert "This process:" in text.getvalue()
    assert "Memory: ok — 100.0 MiB in 1 worker" in text.getvalue()
    worker(pid=102, rss=600 * MiB, hard=512 * MiB)
    assert exit_code("memory", stdout=StringIO(), stderr=StringIO()) == 1


def test_the_chart_draws_a_fresh_fleet_up_to_now_each_line_ending_in_a_dot():
    """Two workers, one sample each, in the current minute: the total is drawn where they were taken (not
    half a minute on, past the right edge), and each single sample is seen as its dot."""
    worker(pid=101, rss=100 * MiB)
    now = timezone.now().replace(second=5)
    MemorySample.objects.bulk_create(
        MemorySample(instance_id="web-1:8000", pid=pid, at=now - timedelta(seconds=2), rss_bytes=rss)
        for pid, rss in ((101, 100 * MiB), (102, 300 * MiB))
    )
    chart = history.rss_chart(now)
    total, *workers = chart.series
    assert (total.label, total.last_value) == ("fleet total", 400 * MiB)
    assert [series.label for series in workers] == ["web-1:8000 pid 101", "web-1:8000 pid 102"]
    for series in chart.series:
        x, y = map(float, series.end)
        assert chart.width - 1 < x <= chart.width
        assert 0 <= y <= chart.height
    page = logged_in(VIEWERS).get(PAGE).content.decode()
    assert page.count("<circle") == 4  # and this process, which beat as it served the page


def test_the_fleet_total_counts_a_replaced_worker_once(settings):
    """Worker 101 is recycled mid-minute and 103 replaces it: the total never holds both."""
    settings.PORTAL_HEARTBEAT_SECONDS = 5
    worker(pid=102, rss=100 * MiB)
    start = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=3)
    beats = [(101, second) for second in range(0, 90, 5)] + [(103, second) for second in range(95, 180, 5)]
    beats += [(102, second) for second in range(0, 180, 5)]
    MemorySample.objects.bulk_create(
        MemorySample(instance_id="web-1:8000", pid=pid, at=start + timedelta(seconds=second), rss_bytes=100 * MiB)
        for pid, second in beats
    )
    total, *_ = history.rss_chart(start + timedelta(minutes=3)).series
    heights = {y for _, y in (point.split(",") for point in total.points.split())}
    assert len(heights) == 1  # two workers' worth at every point
    assert total.last_value == 200 * MiB


def test_the_fleet_total_has_no_gap_where_samples_are_sparse(settings):
    """A sample every 5 minutes (beats lost to an outage, say): the total holds both workers throughout."""
    settings.PORTAL_HEARTBEAT_SECONDS = 5
    worker(pid=101, rss=100 * MiB)
    now = timezone.now()
    MemorySample.objects.bulk_create(
        MemorySample(instance_id="web-1:8000", pid=pid, at=now - timedelta(minutes=m), rss_bytes=100 * MiB)
        for m in range(0, 60, 5)
        for pid in (101, 102)
    )
    total, *_ = history.rss_chart(now).series
    heights = {y for _, y in (point.split(",") for point in total.points.split())}
    assert len(heights) == 1  # two workers' worth at every point, never none


def test_the_page_shows_every_worker_the_chart_and_the_machines_with_writes_for_managers_only():
    worker(pid=101, rss=100 * MiB)
    worker(pid=102, rss=300 * MiB, soft=256 * MiB)
    now = timezone.now()
    MemorySample.objects.bulk_create(
        MemorySample(instance_id="web-1:8000", pid=pid, at=now - timedelta(minutes=m), rss_bytes=rss)
        for m in range(0, 60, 5)
        for pid, rss in ((101, 100 * MiB), (102, 300 * MiB))
    )
    page = logged_in(OPERATORS).get(PAGE).content.decode()
    assert "Needs attention" in page
    assert "web-1:8000 pid 102 above its soft limit" in page
    assert 'name="processes" value="web-1:8000 pid 101"' in page
    assert 'name="processes" value="web-1:8000 pid 102"' in page
    assert "Collect garbage now" in page
    assert "Recycle…" in page
    assert page.count("<polyline") == 4  # the fleet total, each worker, and this process (it beat as it served)
    snapshot_link = "/admin/ops/run/allocation_snapshot/?instance=web-1%3A8000&amp;pid=102"
    assert snapshot_link in page
    form = logged_in(OPERATORS, username="other").get(snapshot_link.replace("&amp;", "&")).content.decode()
    assert 'value="web-1:8000"' in form
    assert 'value="102"' in form
    assert "51,234" in page  # frozen objects
    assert "1,200" in page  # requests served
    assert "8.0 GiB" in page  # the machine's total
    viewer = logged_in(VIEWERS).get(PAGE).content.decode()
    assert 'name="processes"' not in viewer
    assert "Collect garbage now" not in viewer


@pytest.mark.django_db(transaction=True)  # this process's own thread answers the recycle sent to it
def test_a_rolling_recycle_goes_one_worker_at_a_time_and_stops_at_one_that_does_not_answer(settings, monkeypatch):
    settings.PORTAL_COMMAND_POLL_SECONDS = 0.05
    settings.PORTAL_COMMAND_TIMEOUT_SECONDS = 1
    record_heartbeat(HOST, "8000", force=True)  # as the thread names this process
    silent = os.getpid() + 100_000  # after this process in the plan; nobody answers for it
    worker(INSTANCE, pid=silent)
    replaced = []

    def gunicorn_replaces_it():  # what the arbiter does once the worker exits: a fresh one beats
        replaced.append(RunTarget.objects.get(pid=os.getpid()).status)
        worker(INSTANCE, pid=silent + 1)

    monkeypatch.setattr(identity, "gunicorn_worker", lambda: True)
    monkeypatch.setattr(recycle, "exit_gracefully", gunicorn_replaces_it)
    thread = ProcessThread("8000", "web")
    thread.start()
    try:
        run = run_write("rolling_recycle", {"instances": [INSTANCE]})
    finally:
        thread.stop()
    assert replaced == ["succeeded"]
    steps = [(step["name"], step["status"]) for step in run.result["steps"]]
    assert steps == [(f"{INSTANCE} pid {os.getpid()}", "done"), (f"{INSTANCE} pid {silent}", "failed")]
    assert run.status == "failed"
    assert f"no answer from {INSTANCE} pid {silent}" in run.result["problems"][0]
    recycles = OpsRun.objects.filter(operation="recycle_workers").order_by("pk")
    assert [(r.door, r.status) for r in recycles] == [("portal", "succeeded"), ("portal", "failed")]


def test_figures_this_platform_does_not_give_read_not_available_here_on_every_door(monkeypatch):
    """PSS off Linux, USS and open files where the OS refuses them, no cgroup off Linux: None, never 0 or an error."""
    row = worker(pid=101, cgroup=(None, None))
    row.figures |= {"uss_bytes": None, "open_files": None}
    row.save()

    section = fleet_memory()
    assert "web-1:8000 pid 101 (web): 100.0 MiB RSS, USS not available here, 6 threads, 1,200 requests" in section.lines
    page = logged_in(VIEWERS).get(PAGE).content.decode()
    row_html = page[page.index('data-process="web-1:8000 pid 101"') :].split("</tr>")[0]
    assert row_html.count("not available here") == 3  # USS, PSS, open files
    machine = page[page.index('data-host="web-1"') :].split("</tr>")[0]
    assert "not available here" in machine
    assert "no limit" not in machine

    monkeypatch.setattr(collecting.psutil.Process, "memory_full_info", lambda self: SimpleNamespace(rss=1, vms=2))
    text = StringIO()
    assert exit_code("memory", "--gc", stdout=text) == 0
    assert "USS not available here -> not available here" in text.getvalue()
    assert "USS not available here," in text.getvalue()  # this process, as its figures say
