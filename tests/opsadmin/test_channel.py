"""Where a write runs: the run's states and times, and the command channel to other processes.

A run sent to processes is one RunTarget per process; each process takes its own from its
thread (here `channel.deliver` is called as that thread would), and the run is settled
from their answers: succeeded, failed, or partly failed naming who failed or never answered.
"""

import os
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone

from opsadmin.models import Instance, InstanceWorker, OpsRun, RunTarget
from opsadmin.runtime import identity
from opsadmin.runtime.heartbeat import record_heartbeat
from opsadmin.spine import channel, registry, runs, targets
from stocks.models import Stock
from tests.helpers import OPERATORS, logged_in, run_write

pytestmark = pytest.mark.django_db

LOCAL = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "KEY_PREFIX": "scanner"}


@pytest.fixture
def local_memory(settings):
    """The default cache in each process's own memory: a clear of it must reach every web process."""
    settings.CACHES = {**settings.CACHES, "default": {**LOCAL, "LOCATION": "channel-tests"}}


@pytest.fixture
def this_process():
    """This test process as a web worker of web-1:8000, named as its first request would name it."""
    record_heartbeat("web-1", "8000", force=True)
    return identity.this_process()


def another_process(instance="web-2:8000", pid=4242, seen_ago=0):
    """A web worker that beats (its row is fresh) but whose thread nobody runs here: it never answers."""
    now = timezone.now()
    Instance.objects.get_or_create(
        id=instance, defaults={"host": instance.split(":")[0], "port": "8000", "started_at": now, "last_seen_at": now}
    )
    InstanceWorker.objects.create(
        instance_id=instance, pid=pid, started_at=now, last_seen_at=now - timedelta(seconds=seen_ago)
    )


def test_a_local_memory_clear_goes_to_every_live_web_process_and_each_answers(local_memory, this_process):
    another_process(seen_ago=3600)  # gone: not asked
    run = run_write("clear_cache", {"alias": "default"}, where=targets.EVERY_WEB_PROCESS)
    assert (run.status, run.target) == ("queued", "every_web_process")
    assert list(run.targets.values_list("instance", "pid", "status")) == [("web-1:8000", os.getpid(), "pending")]

    assert channel.deliver(*this_process) == 1

    run.refresh_from_db()
    assert run.status == OpsRun.Status.SUCCEEDED
    assert run.summary.startswith("1 of 1 process done: Deleted 0 keys of default")
    assert run.started_at is not None
    assert run.finished_at >= run.started_at >= run.requested_at
    assert channel.deliver(*this_process) == 0  # answered once


def test_a_process_that_never_answers_leaves_the_run_partly_failed_naming_it(local_memory, this_process):
    another_process()
    run = run_write("clear_cache", {"alias": "default"}, where=targets.EVERY_WEB_PROCESS)
    channel.deliver(*this_process)
    run.refresh_from_db()
    assert run.status == OpsRun.Status.RUNNING  # one answer in, one to come

    assert runs.give_up_on_overdue() == 0  # not yet: its deadline is PORTAL_COMMAND_TIMEOUT_SECONDS away
    later = timezone.now() + timedelta(seconds=settings.PORTAL_COMMAND_TIMEOUT_SECONDS + 1)
    assert runs.give_up_on_overdue(later) == 1

    run.refresh_from_db()
    assert run.status == OpsRun.Status.PARTLY_FAILED
    assert run.problems == ["no answer from web-2:8000 pid 4242 within 30 s"]
    assert "no answer from web-2:8000 pid 4242" in run.summary
    statuses = dict(run.targets.values_list("pid", "status"))
    assert statuses == {os.getpid(): "succeeded", 4242: "no_answer"}


def test_a_run_whose_last_answer_could_not_settle_it_is_settled_by_the_sweep(local_memory, this_process, monkeypatch):
    run = run_write("clear_cache", {"alias": "default"}, where=targets.EVERY_WEB_PROCESS)

    def locked(run_id):
        raise OperationalError("database is locked")

    with monkeypatch.context() as patch:
        patch.setattr(runs, "settle", locked)
        with pytest.raises(OperationalError):
            channel.deliver(*this_process)
    run.refresh_from_db()
    assert run.status == OpsRun.Status.RUNNING  # every target answered, nobody left to settle it
    assert list(run.targets.values_list("status", flat=True)) == ["succeeded"]

    runs.give_up_on_overdue()

    run.refresh_from_db()
    assert run.status == OpsRun.Status.SUCCEEDED
    assert run.summary.startswith("1 of 1 process done")


def test_nobody_answering_fails_the_run(local_memory, this_process):
    another_process()
    run = run_write("clear_cache", {"alias": "default"}, where=targets.EVERY_WEB_PROCESS)
    runs.give_up_on_overdue(timezone.now() + timedelta(hours=1))
    run.refresh_from_db()
    assert run.status == OpsRun.Status.FAILED
    assert run.started_at is not None  # settled: it did run its course
    assert sorted(run.problems) == [
        f"no answer from web-1:8000 pid {os.getpid()} within 30 s",
        "no answer from web-2:8000 pid 4242 within 30 s",
    ]


def test_work_for_every_web_process_is_confirmed_with_what_it_was_given(local_memory, this_process):
    Stock.objects.bulk_create(Stock(ticker=f"T{number}", name=f"Stock {number}") for number in range(7))
    write = registry.get_write("invalidate_stocks")
    confirmation = write.confirmation(runs.validate(write.form_class, {"tickers": [f"T{n}" for n in range(7)]}))
    assert confirmation.action == "Invalidate cached stock data (T0, T1, T2, T3, T4 and 2 more) in every web process"
    assert (confirmation.items, confirmation.size) == ([f"web-1:8000 pid {os.getpid()}"], "1 process on 1 instance")


def test_with_no_web_process_serving_the_run_fails_saying_so(local_memory):
    run = run_write("clear_cache", {"alias": "default"}, where=targets.EVERY_WEB_PROCESS)
    assert (run.status, run.error) == ("failed", "no web process is serving: there was nowhere to send it")
    assert not run.targets.exists()


def test_a_write_for_one_process_runs_there_only(probe_capability, this_process):
    another_process()
    run = run_write("whoami", {"instance": "web-1:8000", "pid": os.getpid()})
    assert list(run.targets.values_list("instance", "pid")) == [("web-1:8000", os.getpid())]
    assert channel.deliver("web-2:8000", 4242) == 0  # nothing for anyone else
    channel.deliver(*this_process)
    run.refresh_from_db()
    assert (run.status, run.summary) == ("succeeded", f"1 of 1 process done: ran in pid {os.getpid()}")


def test_a_process_that_lacks_the_write_answers_failed(probe_capability, this_process):
    run = run_write("whoami", {"instance": "web-1:8000", "pid": os.getpid()})
    registry.load(settings.PORTAL_CAPABILITIES)  # a release without the probe capability takes it
    channel.deliver(*this_process)
    run.refresh_from_db()
    assert run.status == OpsRun.Status.FAILED
    assert run.targets.get().error == "this process has no such write"


def test_an_answer_after_the_deadline_does_not_count(local_memory, this_process):
    run = run_write("clear_cache", {"alias": "default"}, where=targets.EVERY_WEB_PROCESS)
    runs.give_up_on_overdue(timezone.now() + timedelta(hours=1))
    assert channel.deliver(*this_process) == 0  # no longer pending: the sweep gave up on it
    assert RunTarget.objects.get().status == RunTarget.Status.NO_ANSWER
    run.refresh_from_db()
    assert run.status == OpsRun.Status.FAILED


@pytest.mark.django_db(transaction=True)  # queued once committed; the worker claims it later
def test_a_queued_run_keeps_the_time_it_was_asked_for(ops_groups):
    record_heartbeat("web-1", "8000", force=True)
    run = run_write("drain", {"instances": ["web-1:8000"], "action": "drain"}, where=targets.TASK_WORKER)
    run.refresh_from_db()
    assert (run.status, run.started_at, run.ran_on) == ("queued", None, "")
    asked = timezone.now() - timedelta(minutes=10)
    OpsRun.objects.filter(pk=run.pk).update(requested_at=asked)  # as if the worker had been busy for a while

    call_command("ops_worker", "--batch", "--no-startup-delay", "--no-reload", stdout=StringIO(), stderr=StringIO())

    run.refresh_from_db()
    assert run.status == OpsRun.Status.SUCCEEDED
    assert run.requested_at == asked
    assert run.requested_at < run.started_at <= run.finished_at
    assert run.ran_on == f"{identity.HOST}:worker pid {os.getpid()}"
    page = logged_in(OPERATORS).get(reverse("admin:opsadmin_opsrun_change", args=[run.pk])).content.decode()
    for label in ("Requested", "Started", "Finished", "Duration"):
        assert label in page
    assert "after 10 min" in page  # how long it waited in the queue


def test_a_run_here_is_claimed_at_once_and_says_where_it_ran(this_process):
    run = run_write("drain", {"instances": ["web-1:8000"], "action": "resume"})
    assert (run.status, run.target) == ("succeeded", "here")
    assert run.ran_on == f"web-1:8000 pid {os.getpid()}"
    assert run.requested_at <= run.started_at <= run.finished_at
