"""A stopping task worker (SIGTERM, as systemd or Kubernetes send it) finishes the task in hand, or puts it back.

The worker runs here, in the test's main thread, where signals are handled; each task signals its own process
as it starts, so the signal always comes mid-task. Where the platform has no SIGALRM (Windows), the stop time is
kept by a timer thread instead: simulated here by taking SIGALRM away from the alarm's module.
"""

import contextlib
import os
import signal
import time
import types

import pytest
from django.tasks import task
from django_tasks_db.models import DBTaskResult, TaskResultStatus

from opsadmin.management.commands.ops_worker import StoppingWorker
from opsadmin.models import OpsRun
from opsadmin.runtime import alarm
from opsadmin.spine import runs, targets

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the worker takes tasks in transactions of its own
    pytest.mark.posix,  # signals the process (SIGALRM, setitimer)
]


@task
def nap(seconds, signals=1):
    """Signals this process `signals` times, then sleeps: a task a stop finds running."""
    for _ in range(signals):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)
    time.sleep(seconds)
    return seconds


@task
def nap_in_steps(seconds):
    """Signals this process, then sleeps in short steps: without SIGALRM, the simulated signal that ends the stop
    time runs between two Python instructions, never in the middle of a blocking sleep."""
    os.kill(os.getpid(), signal.SIGTERM)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.01)
    return seconds


@pytest.fixture
def without_sigalrm(monkeypatch):
    """The alarm's module sees a signal module without SIGALRM and its timer, as on Windows."""
    windows = types.ModuleType("signal")
    absent = {"SIGALRM", "setitimer", "ITIMER_REAL"}
    vars(windows).update({name: value for name, value in vars(signal).items() if name not in absent})
    monkeypatch.setattr(alarm, "signal", windows)


@pytest.fixture
def worker():
    """A StoppingWorker taking the queue until a signal stops it, its signal handlers put back afterwards."""
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)}
    worker = StoppingWorker(
        queue_names=["default"],
        excluded_queue_names=[],
        interval=0.05,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test-worker",
    )
    worker.configure_signals()
    yield worker
    signal.setitimer(signal.ITIMER_REAL, 0)
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


def status_of(result):
    return DBTaskResult.objects.get(pk=result.id).status


def run_until_stopped(worker):
    started = time.monotonic()
    with contextlib.suppress(SystemExit):  # db_worker's way out when a signal finds it between tasks
        worker.run()
    return time.monotonic() - started


def test_a_task_that_ends_within_the_stop_time_finishes_and_no_other_is_taken(worker, settings):
    settings.PORTAL_TASK_STOP_SECONDS = 10
    first, second = nap.enqueue(0.3), nap.enqueue(0.3)

    run_until_stopped(worker)

    assert status_of(first) == TaskResultStatus.SUCCESSFUL
    assert status_of(second) == TaskResultStatus.READY  # for the next worker


def test_a_task_still_running_at_the_stop_time_goes_back_in_the_queue(worker, settings):
    settings.PORTAL_TASK_STOP_SECONDS = 0.3
    result = nap.enqueue(30)

    took = run_until_stopped(worker)

    row = DBTaskResult.objects.get(pk=result.id)
    assert (row.status, row.started_at, row.finished_at, row.traceback) == (TaskResultStatus.READY, None, None, "")
    assert took < 5  # the stop time (0.3 s), not the task's 30 s


def test_a_second_signal_puts_the_task_back_at_once(worker, settings):
    settings.PORTAL_TASK_STOP_SECONDS = 60
    result = nap.enqueue(30, signals=2)

    took = run_until_stopped(worker)

    assert status_of(result) == TaskResultStatus.READY
    assert took < 5


def test_an_interrupted_run_is_queued_again_and_the_next_worker_performs_it(worker, settings, monkeypatch):
    settings.PORTAL_TASK_STOP_SECONDS = 0.3
    run = OpsRun.objects.create(
        operation="drain", door="cli", actor="cli:test", target=targets.TASK_WORKER, status=OpsRun.Status.QUEUED
    )
    result = runs.perform_queued.enqueue(run.pk)

    def slow_then_stopped(write, run, cleaned, progress):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)

    monkeypatch.setattr(runs, "execute", slow_then_stopped)
    run_until_stopped(worker)

    run.refresh_from_db()
    assert (run.status, run.started_at, run.ran_on) == (OpsRun.Status.QUEUED, None, "")
    assert status_of(result) == TaskResultStatus.READY

    monkeypatch.setattr(runs, "execute", lambda write, run, cleaned, progress: {"status": OpsRun.Status.SUCCEEDED})
    worker.running = True
    run_until_stopped(worker)  # the next worker: batch mode, it stops once the queue is empty

    run.refresh_from_db()
    assert run.status == OpsRun.Status.SUCCEEDED
    assert status_of(result) == TaskResultStatus.SUCCESSFUL


def test_without_sigalrm_a_task_past_the_stop_time_still_goes_back_in_the_queue(without_sigalrm, worker, settings):
    settings.PORTAL_TASK_STOP_SECONDS = 0.3
    sigint = signal.getsignal(signal.SIGINT)
    result = nap_in_steps.enqueue(30)

    took = run_until_stopped(worker)

    row = DBTaskResult.objects.get(pk=result.id)
    assert (row.status, row.started_at, row.traceback) == (TaskResultStatus.READY, None, "")
    assert took < 5
    assert signal.getsignal(signal.SIGINT) == sigint  # the worker's own again once the alarm is off


def test_without_sigalrm_a_task_that_ends_within_the_stop_time_finishes(without_sigalrm, worker, settings):
    settings.PORTAL_TASK_STOP_SECONDS = 10
    first, second = nap_in_steps.enqueue(0.3), nap_in_steps.enqueue(0.3)

    run_until_stopped(worker)

    assert status_of(first) == TaskResultStatus.SUCCESSFUL
    assert status_of(second) == TaskResultStatus.READY
