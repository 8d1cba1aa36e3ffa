"""Instances and draining: throttled heartbeats, gone detection, drain state that outlives the process."""

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DatabaseError, OperationalError, connection
from django.utils import timezone

from opsadmin.models import Instance, InstanceWorker, MemorySample
from opsadmin.operations.instances.drain import UnknownInstances, drain_or_resume
from opsadmin.operations.instances.sections import fleet_status
from opsadmin.runtime import drain as drain_state
from opsadmin.runtime import heartbeat, identity, memory_history
from opsadmin.runtime.drain import DrainState, current_drain, current_instance_is_draining
from opsadmin.runtime.fleet import list_instances, task_worker_last_seen
from opsadmin.runtime.heartbeat import TASK_WORKER_PORT, ProcessThread, mark_instance_stopped, record_heartbeat
from opsadmin.runtime.identity import git_commit, this_instance_id
from opsadmin.spine.results import jsonable
from portal import shutting_down

pytestmark = pytest.mark.django_db

HOST = "web-1"
MIDDLEWARE = "opsadmin.runtime.heartbeat.HeartbeatMiddleware"


def reset_process_state():
    """What a new process starts with: no instance named, no beat, no cached drain state."""
    identity.reset()
    heartbeat.reset()
    memory_history.reset()
    drain_state.reset()


def drain(ids, actor):
    return drain_or_resume(instances=ids, action="drain", actor=actor)


def resume(ids):
    return drain_or_resume(instances=ids, action="resume", actor="cli")


@pytest.fixture(autouse=True)
def fresh_process(settings):
    """Each test starts as a new process, with the default intervals."""
    settings.PORTAL_HEARTBEAT_SECONDS = 5
    settings.PORTAL_DRAIN_CACHE_SECONDS = 2
    settings.PORTAL_INSTANCE_GONE_SECONDS = 60
    reset_process_state()
    yield
    reset_process_state()
    identity.app_version.cache_clear()


@pytest.fixture
def clock(monkeypatch):
    """The services' monotonic clock, moved by hand: `clock.advance(seconds)`."""

    class Clock:
        now = time.monotonic()

        def advance(self, seconds):
            self.now += seconds

    fake = Clock()
    monkeypatch.setattr(heartbeat, "_clock", lambda: fake.now)
    monkeypatch.setattr(drain_state, "_clock", lambda: fake.now)
    return fake


def make_instance(instance_id, *, seen_ago=0, drained=False, **fields):
    host, port = instance_id.rsplit(":", 1)
    now = timezone.now()
    return Instance.objects.create(
        id=instance_id,
        host=host,
        port=port,
        started_at=now - timedelta(hours=1),
        last_seen_at=now - timedelta(seconds=seen_ago),
        drain_requested_at=now if drained else None,
        drained_by="alice" if drained else "",
        **fields,
    )


# --- heartbeats ---------------------------------------------------------------------------


def test_the_first_beat_records_the_instance_and_this_process():
    assert this_instance_id() is None

    assert record_heartbeat(HOST, 8000) is True

    instance = Instance.objects.get()
    assert (instance.id, instance.host, instance.port) == ("web-1:8000", HOST, "8000")
    assert instance.version
    assert instance.drain_requested_at is None
    worker = InstanceWorker.objects.get()
    assert (worker.instance_id, worker.pid, worker.kind) == ("web-1:8000", os.getpid(), "web")
    assert worker.rss_bytes > 0
    assert worker.started_at <= worker.last_seen_at
    assert this_instance_id() == "web-1:8000"


def test_beats_within_the_interval_write_once(clock, django_assert_num_queries):
    record_heartbeat(HOST, 8000)
    first_seen = Instance.objects.get().last_seen_at

    clock.advance(4.9)
    with django_assert_num_queries(0):
        assert record_heartbeat(HOST, 8000) is False
    assert Instance.objects.get().last_seen_at == first_seen

    clock.advance(0.2)
    with django_assert_num_queries(3):  # the instance, this worker, its memory sample (pruned at most once a minute)
        assert record_heartbeat(HOST, 8000) is True
    assert Instance.objects.get().last_seen_at > first_seen
    assert InstanceWorker.objects.get().last_seen_at > first_seen


def test_the_interval_comes_from_the_settings(settings, clock):
    settings.PORTAL_HEARTBEAT_SECONDS = 0.5
    assert record_heartbeat(HOST, 8000) is True
    assert record_heartbeat(HOST, 8000) is False
    clock.advance(0.5)
    assert record_heartbeat(HOST, 8000) is True


def test_concurrent_requests_make_one_beat(monkeypatch):
    writes = []
    monkeypatch.setattr(heartbeat, "_write_heartbeat", lambda *args, **kwargs: writes.append(args))
    barrier = threading.Barrier(16)
    results = []

    def request():
        barrier.wait()
        results.append(record_heartbeat(HOST, 8000))

    threads = [threading.Thread(target=request) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False] * 15 + [True]
    assert len(writes) == 1


def test_a_database_error_is_logged_not_raised(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise DatabaseError("connection refused")

    monkeypatch.setattr(heartbeat, "_write_heartbeat", broken)
    with caplog.at_level(logging.ERROR, logger="opsadmin.runtime.heartbeat"):
        assert record_heartbeat(HOST, 8000) is False
    assert "Heartbeat of web-1:8000" in caplog.text
    assert not Instance.objects.exists()


def test_a_database_outage_is_one_line_a_minute_without_a_traceback(monkeypatch, caplog):
    def refused(*args, **kwargs):
        raise OperationalError("connection to server failed: Connection refused\n\tIs the server running?")

    monkeypatch.setattr(heartbeat, "_write_heartbeat", refused)
    with caplog.at_level(logging.WARNING, logger="opsadmin.runtime.heartbeat"):
        assert record_heartbeat(HOST, 8000) is False
        assert record_heartbeat(HOST, 8000, force=True) is False  # the next beat: not logged again this minute
    [record] = caplog.records
    assert record.getMessage() == (
        f"Heartbeat of web-1:8000 (pid {os.getpid()}) not recorded: connection to server failed: Connection refused"
        " (logged once a minute)"
    )
    assert (record.levelname, record.exc_info) == ("WARNING", None)


def test_the_version_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("PORTAL_VERSION", "2026.11.3")
    identity.app_version.cache_clear()
    record_heartbeat(HOST, 8000)
    assert Instance.objects.get().version == "2026.11.3"


def test_the_version_falls_back_to_the_git_commit_then_dev(monkeypatch, settings, tmp_path):
    monkeypatch.delenv("PORTAL_VERSION", raising=False)
    settings.BASE_DIR = tmp_path
    identity.app_version.cache_clear()
    assert identity.app_version() == "dev"

    commit = "0123456789abcdef0123456789abcdef01234567"
    (tmp_path / ".git" / "refs" / "heads").mkdir(parents=True)
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (tmp_path / ".git" / "refs" / "heads" / "main").write_text(commit + "\n")
    identity.app_version.cache_clear()
    assert identity.app_version() == "0123456"


def test_git_commit_reads_branches_packed_refs_and_detached_heads(tmp_path):
    git = tmp_path / ".git"
    git.mkdir()
    assert git_commit(tmp_path) is None  # no HEAD

    (git / "HEAD").write_text("ref: refs/heads/release\n")
    (git / "packed-refs").write_text("# pack-refs with: peeled\nabcdef0123456789 refs/heads/release\n")
    assert git_commit(tmp_path) == "abcdef0"

    (git / "HEAD").write_text("fedcba9876543210fedcba9876543210fedcba98\n")
    assert git_commit(tmp_path) == "fedcba9"

    (git / "HEAD").write_text("not a commit\n")
    assert git_commit(tmp_path) is None


def test_git_commit_follows_a_worktree_to_its_main_repository(tmp_path):
    main_git = tmp_path / "main" / ".git"
    (main_git / "refs" / "heads").mkdir(parents=True)
    (main_git / "refs" / "heads" / "feature").write_text("1234567890abcdef1234567890abcdef12345678\n")
    worktree_git = main_git / "worktrees" / "feature"
    worktree_git.mkdir(parents=True)
    (worktree_git / "HEAD").write_text("ref: refs/heads/feature\n")
    (worktree_git / "commondir").write_text("../..\n")
    checkout = tmp_path / "feature"
    checkout.mkdir()
    (checkout / ".git").write_text(f"gitdir: {worktree_git}\n")
    assert git_commit(checkout) == "1234567"


def test_a_beat_after_the_instance_was_gone_starts_a_new_run_and_forgets_dead_workers():
    old = make_instance("web-1:8000", seen_ago=600)
    dead = InstanceWorker.objects.create(
        instance=old, pid=os.getpid() + 1, started_at=old.started_at, last_seen_at=old.last_seen_at
    )

    record_heartbeat(HOST, 8000)

    instance = Instance.objects.get()
    assert instance.started_at > old.started_at
    assert instance.last_seen_at > old.last_seen_at
    assert not InstanceWorker.objects.filter(pk=dead.pk).exists()
    assert InstanceWorker.objects.get().pid == os.getpid()


def test_a_beat_of_a_running_instance_keeps_its_start_and_its_other_workers():
    old = make_instance("web-1:8000", seen_ago=3)
    sibling = InstanceWorker.objects.create(
        instance=old, pid=os.getpid() + 1, started_at=old.started_at, last_seen_at=old.last_seen_at
    )

    record_heartbeat(HOST, 8000)

    assert Instance.objects.get().started_at == old.started_at
    assert InstanceWorker.objects.filter(pk=sibling.pk).exists()
    assert InstanceWorker.objects.count() == 2


# --- listing ------------------------------------------------------------------------------


def test_instances_not_seen_for_a_minute_are_gone():
    make_instance("web-1:8000", seen_ago=5)
    make_instance("web-2:8000", seen_ago=61)
    make_instance("web-3:8000", seen_ago=5, drained=True)
    make_instance("web-4:8000", seen_ago=3600, drained=True)

    states = {status.id: status.state for status in list_instances()}

    assert states == {"web-1:8000": "serving", "web-2:8000": "gone", "web-3:8000": "draining", "web-4:8000": "gone"}


def test_gone_follows_the_setting_and_the_given_time(settings):
    make_instance("web-1:8000", seen_ago=20)
    assert list_instances()[0].state == "serving"
    settings.PORTAL_INSTANCE_GONE_SECONDS = 10
    assert list_instances()[0].state == "gone"
    settings.PORTAL_INSTANCE_GONE_SECONDS = 60
    assert list_instances(now=timezone.now() + timedelta(minutes=5))[0].state == "gone"


def test_the_list_carries_workers_and_serialises_to_json(django_assert_num_queries):
    record_heartbeat(HOST, 8000)
    other = make_instance("web-2:8000", seen_ago=120)
    InstanceWorker.objects.create(instance=other, pid=42, started_at=other.started_at, last_seen_at=other.last_seen_at)

    with django_assert_num_queries(2):
        listed = list_instances()

    assert [status.id for status in listed] == ["web-1:8000", "web-2:8000"]
    mine, theirs = listed
    assert mine.current
    assert not theirs.current
    assert [(worker.pid, worker.kind, worker.state) for worker in mine.workers] == [(os.getpid(), "web", "alive")]
    assert [(worker.pid, worker.state) for worker in theirs.workers] == [(42, "gone")]
    data = jsonable(mine)  # the portal's one JSON encoder
    assert data["id"] == "web-1:8000"
    assert data["state"] == "serving"
    assert data["last_seen_at"].startswith(mine.last_seen_at.strftime("%Y-%m-%dT%H:%M:%S"))
    assert data["workers"][0]["pid"] == os.getpid()
    assert data["drain_requested_at"] is None


def test_task_worker_last_seen():
    assert task_worker_last_seen() is None
    record_heartbeat(HOST, 8000)
    assert task_worker_last_seen() is None  # a web worker isn't a task worker

    record_heartbeat(HOST, TASK_WORKER_PORT, "task")

    worker = InstanceWorker.objects.get(kind="task")
    assert worker.instance_id == "web-1:worker"
    assert task_worker_last_seen() == worker.last_seen_at


# --- draining -----------------------------------------------------------------------------


def test_drain_and_resume_survive_a_restart():
    record_heartbeat(HOST, 8000)
    assert current_instance_is_draining() is False

    report = drain(["web-1:8000"], "alice")
    assert (report.action, report.changed, report.already) == ("drain", ["web-1:8000"], [])
    assert current_instance_is_draining() is True

    reset_process_state()  # the process restarts: nothing in memory
    assert current_instance_is_draining() is False  # not yet known which instance it is
    record_heartbeat(HOST, 8000)  # its first request names it; the beat leaves the drain alone
    assert current_instance_is_draining() is True
    instance = Instance.objects.get()
    assert instance.drain_requested_at is not None
    assert instance.drained_by == "alice"

    report = resume(["web-1:8000"])
    assert (report.action, report.changed, report.already) == ("resume", ["web-1:8000"], [])
    assert current_instance_is_draining() is False
    reset_process_state()
    record_heartbeat(HOST, 8000)
    assert current_instance_is_draining() is False
    assert Instance.objects.get().drained_by == ""


def test_unknown_ids_change_nothing():
    make_instance("web-1:8000")
    make_instance("web-2:8000", drained=True)

    with pytest.raises(UnknownInstances) as raised:
        drain(["web-1:8000", "web-9:8000", "nope"], "alice")
    assert raised.value.ids == ["web-9:8000", "nope"]
    assert "web-9:8000, nope" in str(raised.value)
    assert Instance.objects.get(pk="web-1:8000").drain_requested_at is None

    with pytest.raises(UnknownInstances):
        resume(["web-2:8000", "nope"])
    assert Instance.objects.get(pk="web-2:8000").drain_requested_at is not None


def test_instances_already_in_that_state_are_reported_apart():
    make_instance("web-1:8000")
    make_instance("web-2:8000", drained=True)

    report = drain(["web-1:8000", "web-2:8000", "web-1:8000"], "bob")
    assert (report.changed, report.already) == (["web-1:8000"], ["web-2:8000"])
    assert report.summary == "Drained web-1:8000; already draining: web-2:8000"
    assert Instance.objects.get(pk="web-2:8000").drained_by == "alice"  # the first drain's author stays

    report = resume(["web-1:8000", "web-2:8000"])
    assert report.changed == ["web-1:8000", "web-2:8000"]
    report = resume(["web-1:8000"])
    assert (report.changed, report.already, report.summary) == ([], ["web-1:8000"], "already serving: web-1:8000")


def test_the_drain_state_is_cached_briefly_and_invalidated_here(clock, django_assert_num_queries):
    record_heartbeat(HOST, 8000)
    assert current_instance_is_draining() is False

    # Drained by another process: this one notices when its cache expires, not before.
    Instance.objects.update(drain_requested_at=timezone.now())
    with django_assert_num_queries(0):
        assert current_instance_is_draining() is False
    clock.advance(2.1)
    assert current_instance_is_draining() is True

    # Resumed in this process: seen at once.
    resume(["web-1:8000"])
    assert current_instance_is_draining() is False
    with django_assert_num_queries(0):
        assert current_instance_is_draining() is False
    drain(["web-1:8000"], "alice")
    assert current_instance_is_draining() is True


def test_shutting_down_counts_as_draining_without_asking_the_database(django_assert_num_queries):
    record_heartbeat(HOST, 8000)
    shutting_down.announce()
    with django_assert_num_queries(0):
        assert current_instance_is_draining() is True
    assert current_drain() == DrainState("web-1:8000", shutting_down=True)


def test_a_shutdown_is_not_a_drain_it_leaves_the_instance_row_alone():
    record_heartbeat(HOST, 8000)
    shutting_down.announce()
    assert Instance.objects.get(pk="web-1:8000").drain_requested_at is None  # the next server serves


# --- stopped instances -----------------------------------------------------------------------


def test_a_stopped_instance_reads_stopped_until_its_next_beat_which_starts_a_new_run(clock):
    record_heartbeat(HOST, 8000)
    started = Instance.objects.get(pk="web-1:8000").started_at
    mark_instance_stopped("web-1:8000")
    [status] = list_instances()
    assert status.state == "stopped"
    assert fleet_status().detail == "1 stopped"
    clock.advance(60)
    heartbeat.reset()  # a new server's first process
    record_heartbeat(HOST, 8000)
    instance = Instance.objects.get(pk="web-1:8000")
    assert instance.stopped_at is None
    assert [status.state for status in list_instances()] == ["serving"]
    assert instance.started_at >= started


def test_marking_an_instance_stopped_never_raises_when_the_database_is_out(monkeypatch, caplog):
    def database_down(*args, **kwargs):
        raise OperationalError("connection to server failed: Connection refused")

    monkeypatch.setattr(Instance.objects, "filter", database_down)
    mark_instance_stopped("web-1:8000")
    assert "Instance web-1:8000 not marked stopped: connection to server failed" in caplog.text


# --- web and worker heartbeats ------------------------------------------------------------


@pytest.mark.parametrize(
    ("instance_name", "listener", "instance_id"),
    [("", "8123", f"{socket.gethostname()}:8123"), ("pod-7f9c", "web.sock", "pod-7f9c:web.sock")],
)
def test_the_middleware_records_the_instance_its_configuration_names_whatever_the_request_says(
    client, settings, instance_name, listener, instance_id
):
    if MIDDLEWARE not in settings.MIDDLEWARE:
        settings.MIDDLEWARE = [MIDDLEWARE, *settings.MIDDLEWARE]
    settings.PORTAL_INSTANCE_ID, settings.PORTAL_INSTANCE_LISTENER = instance_name, listener

    for forged in ("evil.example:1", "other:2", "x:3"):  # on a unix socket gunicorn takes SERVER_PORT from Host
        client.get("/admin/login/", SERVER_PORT=forged.rpartition(":")[2], HTTP_HOST=forged)

    assert list(Instance.objects.values_list("id", flat=True)) == [instance_id]
    assert this_instance_id() == instance_id
    with_worker = InstanceWorker.objects.get(instance_id=instance_id)
    assert (with_worker.pid, with_worker.kind) == (os.getpid(), "web")


@pytest.mark.django_db(transaction=True)
def test_a_process_thread_beats_every_interval_and_closes_its_own_connection_when_it_stops(settings, monkeypatch):
    settings.PORTAL_HEARTBEAT_SECONDS = 0.05
    settings.PORTAL_COMMAND_POLL_SECONDS = 0.02
    closed_by = []

    class ConnectionSpy:
        """Django's connection proxy, noting which thread closes its connection."""

        def close(self):
            closed_by.append(threading.current_thread().name)
            connection.close()

    monkeypatch.setattr(heartbeat, "connection", ConnectionSpy())
    thread = ProcessThread(TASK_WORKER_PORT, "task")
    thread.start()
    try:
        deadline = time.monotonic() + 5
        seen = set()
        while len(seen) < 2 and time.monotonic() < deadline:
            # SQLite's shared in-memory test database reports a lock rather than waiting for the writer.
            with contextlib.suppress(OperationalError):
                seen.update(InstanceWorker.objects.filter(kind="task").values_list("last_seen_at", flat=True))
            time.sleep(0.02)
    finally:
        thread.stop()
    assert len(seen) >= 2  # it beats while idle
    assert not thread.is_alive()
    assert closed_by == [thread.name]  # once, when it stopped: not after every beat
    worker = InstanceWorker.objects.get()
    assert (worker.instance_id, worker.pid, worker.kind) == (f"{identity.HOST}:worker", os.getpid(), "task")
    assert task_worker_last_seen() == worker.last_seen_at


@pytest.fixture
def restore_worker_side_effects():
    """db_worker installs signal handlers and log handlers for the whole process: undo them."""
    signals = [getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGQUIT") if hasattr(signal, name)]
    handlers = {signum: signal.getsignal(signum) for signum in signals}
    loggers = [logging.getLogger(name) for name in ("django_tasks_db", "django.tasks")]
    log_handlers = {log: list(log.handlers) for log in loggers}
    levels = {log: log.level for log in loggers}
    yield
    for signum, handler in handlers.items():
        signal.signal(signum, handler)
    for log in loggers:
        log.handlers[:] = log_handlers[log]
        log.setLevel(levels[log])


@pytest.mark.django_db(transaction=True)  # the worker closes connections found inside a transaction
def test_ops_worker_beats_then_runs_the_queue_and_removes_its_row_as_it_exits(restore_worker_side_effects):
    threads_before = set(threading.enumerate())

    call_command("ops_worker", "--batch", "--no-startup-delay", "--no-reload", stdout=StringIO())

    instance = Instance.objects.get()
    assert instance.id == f"{socket.gethostname()}:{TASK_WORKER_PORT}"
    assert MemorySample.objects.filter(instance=instance, pid=os.getpid()).exists()  # it beat
    assert not InstanceWorker.objects.exists()  # and is no longer listed
    leftover = [thread for thread in set(threading.enumerate()) - threads_before if thread.is_alive()]
    assert leftover == []


@pytest.mark.django_db(transaction=True)  # it closes its connection, as an exiting process does
def test_an_exiting_process_removes_only_its_own_row():
    other = make_instance("other:8000")
    InstanceWorker.objects.create(instance=other, pid=1, started_at=other.started_at, last_seen_at=other.last_seen_at)
    heartbeat.forget_this_process()  # it never beat: nothing to remove
    record_heartbeat("web-1", "8000")
    assert InstanceWorker.objects.filter(pid=os.getpid()).exists()

    heartbeat.forget_this_process()

    assert list(InstanceWorker.objects.values_list("instance_id", "pid")) == [("other:8000", 1)]


@pytest.mark.django_db(transaction=True)  # its thread writes from a connection of its own
def test_a_leaving_worker_beats_no_more_and_its_thread_removes_its_row(settings):
    """A worker finishing its requests before it exits (gunicorn's SIGTERM) is no longer listed: a rolling recycle
    would otherwise pick it, and it would never answer."""
    settings.PORTAL_COMMAND_POLL_SECONDS = 60  # its thread waits a minute between ticks, unless told to stop
    identity.name_instance("web-1:8000")
    thread = heartbeat.start_process_thread("8000", heartbeat.WEB)
    deadline = time.monotonic() + 5
    while not InstanceWorker.objects.filter(pid=os.getpid()).exists():
        assert time.monotonic() < deadline, "the thread did not beat"
        time.sleep(0.05)

    heartbeat.leave()

    thread.join(5)  # at once, not at its next tick
    assert not thread.is_alive()
    assert not InstanceWorker.objects.filter(pid=os.getpid()).exists()
    assert record_heartbeat("web-1", "8000", force=True) is False
    assert not InstanceWorker.objects.filter(pid=os.getpid()).exists()


def test_work_a_breaker_keeps_from_its_dependency_is_one_line_a_minute(caplog):
    from opsadmin.runtime.breakers import Unavailable

    thread = heartbeat.ProcessThread("8000", heartbeat.WEB)

    def poll_commands():
        raise Unavailable("database", "open", 7)

    with caplog.at_level(logging.WARNING, logger="opsadmin.runtime.heartbeat"):
        for _ in range(2):
            try:
                poll_commands()
            except Unavailable:
                thread._log_error(poll_commands)
    [record] = caplog.records
    assert record.getMessage() == (
        f"poll_commands skipped in pid {os.getpid()}: database unavailable: circuit breaker open, retry in 7 s"
        " (logged once a minute)"
    )
    assert record.exc_info is None


def test_the_task_worker_waits_for_the_database_breakers_trial_and_doubles_otherwise():
    from django.db import OperationalError

    from opsadmin.management.commands.ops_worker import pause_after
    from opsadmin.runtime.breakers import CLOSED, HALF_OPEN, OPEN, Unavailable

    class Refused(Unavailable, OperationalError):
        pass

    assert pause_after(OperationalError("connection refused"), 0.5) == 1
    assert pause_after(OperationalError("connection refused"), 16) == 30  # at most 30 s
    assert pause_after(Refused("database", OPEN, 7), 1) == 7  # no sooner than its trial, and no later
    assert pause_after(Refused("database", OPEN, 90), 1) == 30
    assert pause_after(Refused("database", HALF_OPEN, 1), 10) == 1  # another thread's trial: its outcome is near
    assert pause_after(Refused("database", CLOSED, 1), 4) == 8  # a failed call, not a refusal: doubling
