"""The breakers themselves: pybreaker's state machine without its lock around calls, state shared through
Redis by separate processes, and each process's own state while Redis does not answer."""

import logging
import os
import subprocess
import sys
import threading
import time

import pytest
from django.conf import settings
from django.test import override_settings

from opsadmin.runtime import breakers
from opsadmin.runtime.breakers import CLOSED, HALF_OPEN, OPEN, Unavailable
from tests.services import free_port

FAST = {"purpose": "a test dependency", "fail_max": 3, "reset_timeout": 0.3}


class Down(Exception):
    """The dependency failed."""


def declared(**declarations):
    return override_settings(PORTAL_BREAKERS={**settings.PORTAL_BREAKERS, **declarations})


def failing():
    raise Down("connection refused")


def fail(breaker, times):
    for _ in range(times):
        with pytest.raises(Down):
            breaker.call(failing)


@pytest.fixture
def local():
    """Breakers kept in this process only, as on the embedded default."""
    with declared(upstream=FAST), override_settings(REDIS_URL=""):
        yield breakers.get("upstream")


def test_trips_after_fail_max_failures_in_a_row_and_then_fails_at_once(local):
    fail(local, 2)
    assert local.call(lambda: "answer") == "answer"  # a success starts the count again
    fail(local, 3)
    assert local.current_state == OPEN
    called = []
    with pytest.raises(Unavailable) as refused:
        local.call(called.append, 1)
    assert called == []  # the dependency was not called
    assert (refused.value.breaker, refused.value.retry_after) == ("upstream", 1)


def test_errors_that_are_answers_do_not_count():
    declaration = FAST | {"failures": "opsadmin.runtime.outages.redis_outage"}
    with declared(upstream=declaration), override_settings(REDIS_URL=""):
        breaker = breakers.get("upstream")
        for _ in range(5):
            with pytest.raises(ValueError, match="bad request"):
                breaker.call(_raise, ValueError("bad request"))
        assert (breaker.current_state, breaker.fail_counter) == (CLOSED, 0)


def _raise(error):
    raise error


def test_after_the_reset_timeout_one_trial_decides(local, caplog):
    fail(local, 3)
    time.sleep(0.35)
    assert local.call(lambda: "back") == "back"
    assert local.current_state == CLOSED
    fail(local, 3)
    time.sleep(0.35)
    fail(local, 1)  # the trial fails: open again at once
    assert local.current_state == OPEN
    causes = [(event["from"], event["to"], event["cause"]) for event in local.status().history]
    assert causes[0] == (HALF_OPEN, OPEN, "the trial call failed: Down: connection refused")
    assert causes[-1] == (CLOSED, OPEN, "3 failures in a row, the last: Down: connection refused")
    assert (HALF_OPEN, CLOSED, "the trial call succeeded") in causes
    opened = [record for record in caplog.records if "closed -> open" in record.getMessage()]
    assert [record.levelno for record in opened] == [logging.WARNING] * 2


def test_a_slow_call_does_not_hold_up_the_others(local):
    """pybreaker's own `call` holds one lock around the call; ours only while it decides."""
    inside, release = threading.Event(), threading.Event()

    def slow():
        inside.set()
        release.wait(5)

    thread = threading.Thread(target=local.call, args=(slow,))
    thread.start()
    try:
        assert inside.wait(5)
        finished = threading.Event()
        other = threading.Thread(target=lambda: (local.call(lambda: None), finished.set()))
        other.start()
        assert finished.wait(2), "a second call waited for the first"
    finally:
        release.set()
        thread.join()


def test_half_open_lets_one_trial_through_per_process(local):
    fail(local, 3)
    time.sleep(0.35)
    inside, release = threading.Event(), threading.Event()
    trial = threading.Thread(target=local.call, args=(lambda: (inside.set(), release.wait(5)),))
    trial.start()
    try:
        assert inside.wait(5)
        assert local.current_state == HALF_OPEN
        with pytest.raises(Unavailable):
            local.call(lambda: None)
    finally:
        release.set()
        trial.join()
    assert local.current_state == CLOSED


def test_operators_reset_open_and_half_open_with_their_name_in_the_history(local):
    local.force_open("alice")
    assert local.current_state == OPEN
    local.force_half_open("bob")
    local.reset("carol")
    history = local.status().history
    assert [(event["to"], event["cause"]) for event in history] == [
        (CLOSED, "reset by carol"),
        (HALF_OPEN, "half-opened by bob"),
        (OPEN, "opened by alice"),
    ]
    status = local.status()
    assert (status.where, status.shared) == ("this process, as each process keeps its own (no REDIS_URL)", False)


def test_status_shows_the_count_the_threshold_and_the_last_error(local):
    fail(local, 2)
    status = local.status()
    assert (status.state, status.fail_counter, status.fail_max, status.reset_timeout) == (CLOSED, 2, 3, 0.3)
    assert status.last_error == "Down: connection refused"
    assert status.last_error_at is not None


@pytest.mark.redis
def test_state_is_shared_by_two_processes_through_redis():
    """Another process trips the breaker; this one fails at once, and sees the other's history."""
    with declared(upstream=FAST | {"reset_timeout": 30}):
        breaker = breakers.get("upstream")
        breaker._state_storage.forget()
        script = (
            "import django; django.setup()\n"
            "from django.test import override_settings\n"
            "from django.conf import settings\n"
            f"declarations = {{**settings.PORTAL_BREAKERS, 'upstream': {FAST | {'reset_timeout': 30}!r}}}\n"
            "with override_settings(PORTAL_BREAKERS=declarations):\n"
            "    from opsadmin.runtime import breakers\n"
            "    breaker = breakers.get('upstream')\n"
            "    for _ in range(3):\n"
            "        try:\n"
            "            breaker.call(lambda: 1 / 0)\n"
            "        except ZeroDivisionError:\n"
            "            pass\n"
            "    print(breaker.current_state)\n"
        )
        other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
        assert other.stdout.strip() == OPEN, other.stderr
        time.sleep(settings.PORTAL_BREAKER_SYNC_SECONDS)
        with pytest.raises(Unavailable):
            breaker.call(lambda: None)
        status = breaker.status()
        assert status.shared
        assert status.where.startswith("Redis 127.0.0.1:")
        assert status.history[0]["cause"] == "3 failures in a row, the last: ZeroDivisionError: division by zero"
        assert status.history[0]["process"].rpartition(" pid ")[2] != str(os.getpid())  # the other process tripped it
        breaker.reset("test")
        breaker._state_storage.forget()


def test_without_redis_each_process_keeps_its_own_state_and_says_so_once(caplog, hanging):
    for url in (f"redis://127.0.0.1:{free_port()}/0", f"redis://127.0.0.1:{hanging.port}/0"):  # refused, hung
        with declared(upstream=FAST), override_settings(REDIS_URL=url, PORTAL_BREAKER_REDIS_RETRY_SECONDS=60):
            caplog.clear()
            breaker = breakers.get("upstream")
            started = time.monotonic()
            fail(breaker, 3)
            with pytest.raises(Unavailable):
                breaker.call(lambda: None)
            assert time.monotonic() - started < 1.5  # one short Redis timeout, then local state
            status = breaker.status()
            assert (status.state, status.shared) == (OPEN, False)
            assert status.where.startswith("this process (Redis 127.0.0.1:")
            assert "does not answer" in status.where
            warnings = [r.getMessage() for r in caplog.records if "state kept in each process" in r.getMessage()]
            assert len(warnings) == 1


def test_a_hung_redis_costs_the_guarded_calls_no_socket_timeout(hanging):
    """The fleet's state is read by one thread: callers go on with their copy rather than each waiting out Redis.

    Redis is tried again at once after each failure here, so every call finds the state due for a read.
    """
    url = f"redis://127.0.0.1:{hanging.port}/0"
    timings = {"PORTAL_BREAKER_REDIS_TIMEOUT": 2.0, "PORTAL_BREAKER_REDIS_RETRY_SECONDS": 0}
    with declared(upstream=FAST), override_settings(REDIS_URL=url, **timings):
        took = []

        def calls():
            for _ in range(5):
                started = time.monotonic()
                breakers.get("upstream").call(lambda: None)
                took.append(time.monotonic() - started)

        threads = [threading.Thread(target=calls) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(took) == 20
        assert max(took) < 1.0, f"a call waited {max(took):.2f} s for Redis, whose timeout here is 2 s"


def test_any_outbound_call_can_be_guarded_by_a_declared_breaker(local):
    @breakers.guard("upstream")
    def fetch_quotes():
        raise Down("connection refused")

    for _ in range(3):
        with pytest.raises(Down):
            fetch_quotes()
    with pytest.raises(Unavailable):
        fetch_quotes()
    assert fetch_quotes.__name__ == "fetch_quotes"
    with pytest.raises(KeyError, match="'elsewhere' is not declared in PORTAL_BREAKERS"):
        breakers.guard("elsewhere")
