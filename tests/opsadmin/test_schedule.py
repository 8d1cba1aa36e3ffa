"""The task worker's scheduled work: each job when due, counted from its last start; one that raises is logged
and runs again when next due, the others unaffected."""

import pytest

from opsadmin.spine.capability import Scheduled
from opsadmin.spine.schedule import Scheduler

pytestmark = pytest.mark.django_db  # each run closes the database connections a job left stale


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_each_job_runs_when_due_and_a_failing_one_stops_neither_itself_nor_the_others(caplog):
    clock, ran = Clock(), []

    def broken():
        ran.append("broken")
        raise RuntimeError("boom")

    scheduler = Scheduler(
        [Scheduled("every_30", lambda: 30, lambda: ran.append("every_30")), Scheduled("broken", lambda: 10, broken)],
        clock=clock,
    )
    scheduler.run_due()  # both are due at once
    clock.now += 10
    scheduler.run_due()
    clock.now += 5
    scheduler.run_due()  # nothing due
    clock.now += 15
    scheduler.run_due()
    assert ran == ["every_30", "broken", "broken", "every_30", "broken"]
    assert caplog.text.count("Scheduled broken failed (logged once a minute)") == 1
    assert 0 <= scheduler.pause() <= 1.0
