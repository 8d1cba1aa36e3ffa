"""One circuit breaker: pybreaker's state machine, with its lock held only while it decides.

pybreaker 1.4.1 holds one lock per breaker around the whole guarded call (pybreaker #3), so
one call stuck on a hung server would queue every other call of the process behind it.
Here the lock is held to admit a call and to record how it ended, never while it runs.
While half-open, one trial call runs per process and the others fail at once, so a
recovering server is not met by every waiting request together.

Every change of state made here is logged once, with its cause, and kept in the breaker's
history (a change noticed in the shared state was logged by the process that made it).
"""

import contextlib
import logging
import math
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pybreaker

from opsadmin.runtime import identity

logger = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = pybreaker.STATE_CLOSED, pybreaker.STATE_OPEN, pybreaker.STATE_HALF_OPEN
ERROR_TEXT_LENGTH = 300


class Unavailable(Exception):
    """The guarded dependency is not called now: its breaker is open, or half-open with its trial call running."""

    def __init__(self, breaker_name, state, retry_after):
        self.breaker = breaker_name
        self.state = state
        self.retry_after = retry_after  # whole seconds, at least 1: the Retry-After of a 503
        super().__init__(f"{breaker_name} unavailable: circuit breaker {state}, retry in {retry_after} s")


@dataclass(frozen=True)
class BreakerStatus:
    """A breaker as the console shows it."""

    name: str
    purpose: str
    state: str
    fail_counter: int
    fail_max: int
    reset_timeout: float
    opened_at: datetime | None
    trial_at: datetime | None  # when an open breaker lets its trial call through
    last_error: str
    last_error_at: datetime | None
    where: str  # "Redis 10.0.0.5:6379/0", or "this process" and why
    shared: bool
    history: list  # changes of state, newest first: {"at", "from", "to", "cause", "process"}


def describe(error):
    """ "OperationalError: connection refused", one line, bounded."""
    text = " ".join(str(error).split()) or type(error).__name__
    return f"{type(error).__name__}: {text}"[:ERROR_TEXT_LENGTH]


class Breaker(pybreaker.CircuitBreaker):
    """A named breaker; `counts(error)` says which errors are the dependency's failures (others count as answers)."""

    def __init__(self, name, *, purpose, fail_max, reset_timeout, counts, storage):
        super().__init__(
            fail_max=fail_max,
            reset_timeout=reset_timeout,
            exclude=[lambda error: not counts(error)],
            state_storage=storage,
            name=name,
            throw_new_error_on_trip=False,  # the call that trips it fails with its own error
        )
        self.purpose = purpose
        self._trial_running = False
        self._cause = threading.local()

    # --- guarding a call -------------------------------------------------------------

    def call(self, func, *args, **kwargs):
        """`func(*args, **kwargs)`, or `Unavailable` at once while the breaker is open."""
        trial = self._admit()
        try:
            result = func(*args, **kwargs)
        except BaseException as error:
            self._record(error)
            raise
        else:
            self._record(None)
            return result
        finally:
            if trial:
                self._trial_running = False

    def _admit(self):
        """Whether this call is the half-open trial; `Unavailable` if it may not run."""
        with self._lock:
            state = self.state.name
            if state == OPEN:
                if self.seconds_until_trial() > 0:
                    raise self.unavailable()
                with self._because("the reset timeout is over: the next call is a trial"):
                    self.half_open()
                state = HALF_OPEN
            if state == HALF_OPEN:
                if self._trial_running:
                    raise self.unavailable()
                self._trial_running = True
                return True
            return False

    def _record(self, error):
        with self._lock:
            state = self.state
            if error is None:
                state._handle_success()  # pybreaker: resets the count; a half-open trial closes the breaker
                return
            if self.is_system_error(error):
                self._state_storage.note_error(describe(error))
            try:
                state._handle_error(error, reraise=False)  # pybreaker: counts it; at fail_max, opens the breaker
            except BaseException as raised:  # pybreaker re-raises the error that tripped it
                if raised is not error:
                    raise

    def unavailable(self):
        return Unavailable(self.name, self.current_state, max(1, math.ceil(self.seconds_until_trial())))

    def seconds_until_trial(self):
        """Seconds until an open breaker lets a trial call through; 0 when it is not open or it is time."""
        opened_at = self._state_storage.opened_at
        if self.current_state != OPEN or opened_at is None:
            return 0.0
        return max(0.0, (opened_at + timedelta(seconds=self.reset_timeout) - datetime.now(UTC)).total_seconds())

    # --- operators -------------------------------------------------------------------

    def reset(self, by):
        """Close it: calls go through again, its count starts from zero."""
        with self._because(f"reset by {by}"):
            self.close()

    def force_open(self, by):
        """Open it now: calls fail at once until the reset timeout lets a trial through."""
        with self._because(f"opened by {by}"):
            self.open()

    def force_half_open(self, by):
        """Let the next call through as a trial: its success closes the breaker, its failure opens it."""
        with self._because(f"half-opened by {by}"):
            self.half_open()

    # --- state changes ---------------------------------------------------------------

    def open(self):
        previous = self.current_state
        throw_new_error = super().open()
        self._changed(previous, OPEN)
        return throw_new_error

    def half_open(self):
        previous = self.current_state
        super().half_open()
        self._changed(previous, HALF_OPEN)

    def close(self):
        previous = self.current_state
        super().close()
        self._changed(previous, CLOSED)

    @contextlib.contextmanager
    def _because(self, cause):
        self._cause.text = cause
        try:
            yield
        finally:
            self._cause.text = None

    def _changed(self, previous, new):
        if previous == new:
            return
        cause = getattr(self._cause, "text", None) or self._default_cause(previous, new)
        log = logger.warning if new == OPEN else logger.info
        log("Circuit breaker %s: %s -> %s (%s)", self.name, previous, new, cause)
        event = {"at": datetime.now(UTC).isoformat(), "from": previous, "to": new, "cause": cause}
        self._state_storage.add_event(event | {"process": identity.process_label()})

    def _default_cause(self, previous, new):
        last_error = self._state_storage.fields()["last_error"] or "unknown error"
        if new == OPEN and previous == HALF_OPEN:
            return f"the trial call failed: {last_error}"
        if new == OPEN:
            return f"{self.fail_counter:,} failures in a row, the last: {last_error}"
        return "the trial call succeeded"

    def status(self):
        fields = self._state_storage.fields()
        opened_at = fields["opened_at"] if fields["state"] != CLOSED else None
        trial_at = opened_at + timedelta(seconds=self.reset_timeout) if fields["state"] == OPEN and opened_at else None
        return BreakerStatus(
            name=self.name,
            purpose=self.purpose,
            state=fields["state"],
            fail_counter=fields["fail_counter"],
            fail_max=self.fail_max,
            reset_timeout=self.reset_timeout,
            opened_at=opened_at,
            trial_at=trial_at,
            last_error=fields["last_error"],
            last_error_at=fields["last_error_at"],
            where=self._state_storage.where(),
            shared=self._state_storage.shared,
            history=self._state_storage.history(),
        )
