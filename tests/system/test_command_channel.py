"""The command channel with real processes: gunicorn with three workers, each taking its part of a
local-memory cache clear from its own thread, and a process that never answers.

Each worker learns which instance it is from a readiness probe of its own, and every probe
leaves a key in that worker's local memory (tests/system/channel_settings.py). The clear is
sent from the command line, a process of its own, as an operator would send it.
"""

import re
import sqlite3
import time

import pytest

from tests.system.conftest import FLEET_WORKERS as WORKERS
from tests.system.conftest import manage, served_fleet, web_workers

pytestmark = pytest.mark.sqlite


def targets_of_last_run(database):
    with sqlite3.connect(database) as connection:
        (run_id, status) = connection.execute("SELECT id, status FROM opsadmin_opsrun ORDER BY id DESC").fetchone()
        answers = connection.execute(
            "SELECT pid, status, summary FROM opsadmin_runtarget WHERE run_id = ? ORDER BY pid", [run_id]
        ).fetchall()
    return status, answers


def keys_in(summary):
    """The keys a target's answer says it found: "Dry run: 2 keys of default ..." or "Deleted 2 keys ..."."""
    return int(re.search(r"(\d[\d,]*) keys?\b", summary).group(1).replace(",", ""))


@pytest.fixture
def fleet(tmp_path, migrated_database):
    with served_fleet(tmp_path, migrated_database, command_timeout=5) as served:
        yield served


def test_a_local_memory_clear_empties_every_worker_and_each_answers(fleet):
    _, database, environment = fleet
    pids = sorted(pid for _, pid in web_workers(database))

    before = manage("clear_cache", "--alias", "default", "--dry-run", environment=environment)
    assert before.returncode == 0, before.stdout + before.stderr
    status, answers = targets_of_last_run(database)
    assert status == "succeeded"
    assert [pid for pid, _, _ in answers] == pids
    assert all(keys_in(summary) >= 1 for _, _, summary in answers)  # each worker holds keys of its own

    cleared = manage("clear_cache", "--alias", "default", environment=environment)
    assert cleared.returncode == 0, cleared.stdout + cleared.stderr
    status, answers = targets_of_last_run(database)
    assert (status, [answer for _, answer, _ in answers]) == ("succeeded", ["succeeded"] * WORKERS)
    assert f"{WORKERS} of {WORKERS} processes done" in cleared.stdout

    after = manage("clear_cache", "--alias", "default", "--dry-run", environment=environment)
    assert after.returncode == 0
    _, answers = targets_of_last_run(database)
    assert [keys_in(summary) for _, _, summary in answers] == [0] * WORKERS  # all three are empty


def test_a_worker_that_never_answers_leaves_the_run_partly_failed_with_its_name(fleet):
    _, database, environment = fleet
    instance = web_workers(database)[0][0]
    with sqlite3.connect(database) as connection:  # a worker that beats but whose thread is gone
        connection.execute(
            "INSERT INTO opsadmin_instanceworker (instance_id, pid, kind, started_at, last_seen_at, figures) "
            "VALUES (?, 999999, 'web', datetime('now'), strftime('%Y-%m-%d %H:%M:%f', 'now'), '{}')",
            [instance],
        )

    started = time.monotonic()
    result = manage("clear_cache", "--alias", "default", environment=environment)

    assert result.returncode == 1
    assert f"no answer from {instance} pid 999999" in result.stderr
    status, answers = targets_of_last_run(database)
    assert status == "partly_failed"
    assert sorted(answer for _, answer, _ in answers) == ["no_answer"] + ["succeeded"] * WORKERS
    assert time.monotonic() - started < 20  # given up on at its deadline (5 s here), not waited for forever
