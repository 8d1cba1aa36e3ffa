"""Where a breaker keeps its state: in Redis for the whole fleet when REDIS_URL is set, else in this process.

`SharedState` is a pybreaker storage (`CircuitBreakerStorage`). It keeps one Redis hash
per breaker and reads it at most every PORTAL_BREAKER_SYNC_SECONDS, so a healthy call
costs no round trip. That read is one thread's (`REFRESHER`), which callers wait for at
most REFRESH_WAIT_SECONDS: a hung Redis must not take its socket timeout out of every
database call of the period (readiness's own checks have half a second each). A change
made here is written at once, and a failure's count comes back from Redis's HINCRBY, so
the fleet trips on its failures together. When Redis does not answer within its short
timeout, every breaker of this process keeps its own state until Redis answers again
(`RedisLink`), and says so once each way; Redis's state then wins again.
"""

import json
import logging
import os
import threading
import time
from collections import deque
from concurrent.futures import wait
from datetime import UTC, datetime

import pybreaker
import redis

from opsadmin.runtime.thread_pools import ForkSafeThreadPool

logger = logging.getLogger(__name__)

# The reads of the fleet's state: one at a time per breaker. A healthy Redis answers well within the wait, so
# callers see the state as read; a hung one leaves them the state they had, not a socket timeout each.
REFRESHER = ForkSafeThreadPool(max_workers=2, thread_name_prefix="breaker-sync")
REFRESH_WAIT_SECONDS = 0.02

KEY_PREFIX = "portal:breaker:"  # one hash per breaker, and its history beside it
FIELDS = ("state", "fail_counter", "success_counter", "opened_at", "last_error", "last_error_at")
INITIAL = {
    "state": pybreaker.STATE_CLOSED,
    "fail_counter": 0,
    "success_counter": 0,
    "opened_at": None,
    "last_error": "",
    "last_error_at": None,
}
COUNTERS = ("fail_counter", "success_counter")
TIMES = ("opened_at", "last_error_at")
NOT_USED = object()  # what a Redis operation gives when Redis is not configured or does not answer


class LinkDown(Exception):
    """Redis did not answer: this process uses its own state for now."""


class RedisLink:
    """The one connection every breaker of this process shares its state through, with its own short timeouts.

    Not the caches' connection: the `cache` breaker guards that one, and must not guard
    its own state. After a failure it is not tried again for `retry_seconds`.
    """

    def __init__(self, url, *, timeout, retry_seconds):
        self.url = url
        self.client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout) if url else None
        self.retry_seconds = retry_seconds
        self.error = ""  # why Redis is not used now, "" while it is
        self._down_until = 0.0
        self._lock = threading.Lock()

    @property
    def configured(self):
        return self.client is not None

    def usable(self):
        return self.client is not None and time.monotonic() >= self._down_until

    def run(self, operation):
        """`operation(client)`'s value; `LinkDown` when Redis fails, and Redis is then left alone a while."""
        try:
            value = operation(self.client)
        except redis.RedisError as error:
            with self._lock:
                self._down_until = time.monotonic() + self.retry_seconds
                if not self.error:
                    self.error = str(error) or type(error).__name__
                    logger.warning(
                        "Circuit breakers: state kept in each process, Redis %s does not answer (%s)",
                        self.where(),
                        self.error,
                    )
            raise LinkDown from error
        if self.error:
            with self._lock:
                if self.error:
                    self.error = ""
                    logger.warning("Circuit breakers: state shared through Redis %s again", self.where())
        return value

    def where(self):
        """host:port/db of the Redis server, never its password."""
        kwargs = self.client.connection_pool.connection_kwargs
        if "path" in kwargs:
            return f"unix:{kwargs['path']}/{kwargs.get('db', 0)}"
        return f"{kwargs.get('host')}:{kwargs.get('port')}/{kwargs.get('db', 0)}"


class SharedState(pybreaker.CircuitBreakerStorage):
    """One breaker's state, counters, opening time and last error; in Redis when it answers, else here."""

    def __init__(self, name, link, *, sync_seconds, history_length):
        super().__init__("redis" if link.configured else "memory")
        self.link = link
        self.key = f"{KEY_PREFIX}{name}"
        self.history_key = f"{self.key}:history"
        self.sync_seconds = sync_seconds
        self.history_length = history_length
        self._fields = dict(INITIAL)  # the last state read or written; the authority while Redis is away
        self._history = deque(maxlen=history_length)
        self._read_at = -float("inf")
        self._reading = (None, None)  # (pid, Future) of the read under way: a forked child has none of its own
        self._lock = threading.Lock()

    @property
    def shared(self):
        """Whether the fleet shares this state now (False on the embedded default, or while Redis is away)."""
        return self.link.usable()

    def where(self):
        if not self.link.configured:
            return "this process, as each process keeps its own (no REDIS_URL)"
        if self.link.error:
            return f"this process (Redis {self.link.where()} does not answer: {self.link.error})"
        return f"Redis {self.link.where()}"

    # --- pybreaker's storage protocol ---------------------------------------------------

    @property
    def state(self):
        return self.fields()["state"]

    @state.setter
    def state(self, state):
        self._write({"state": state})

    @property
    def counter(self):
        return self.fields()["fail_counter"]

    @property
    def success_counter(self):
        return self.fields()["success_counter"]

    def increment_counter(self):
        self._increment("fail_counter")

    def reset_counter(self):
        if self.fields()["fail_counter"]:  # the healthy path: nothing to write, no round trip
            self._write({"fail_counter": 0})

    def increment_success_counter(self):
        self._increment("success_counter")

    def reset_success_counter(self):
        if self.fields()["success_counter"]:
            self._write({"success_counter": 0})

    @property
    def opened_at(self):
        return self.fields()["opened_at"]

    @opened_at.setter
    def opened_at(self, when):
        self._write({"opened_at": when})

    # --- ours -----------------------------------------------------------------------------

    def note_error(self, message):
        """The last failure, for the console."""
        self._write({"last_error": message[:500], "last_error_at": datetime.now(UTC)})

    def fields(self):
        """Every field: read from Redis when the copy here is older than the sync period, and Redis answers in time.

        The read runs in REFRESHER, one per breaker at a time; the caller that started it waits
        for it at most REFRESH_WAIT_SECONDS, then goes on with the copy it has, as the others do.
        """
        if time.monotonic() - self._read_at >= self.sync_seconds and self.link.usable():
            with self._lock:
                pid, reading = self._reading
                started = reading is None or pid != os.getpid() or reading.done()
                if started:
                    reading = REFRESHER.submit(self._read)
                    self._reading = (os.getpid(), reading)
            if started:  # a read already under way is not waited for again: callers may hold the breaker's lock
                wait([reading], timeout=REFRESH_WAIT_SECONDS)
        return self._fields

    def _read(self):
        if time.monotonic() - self._read_at < self.sync_seconds:
            return  # another read has just finished
        stored = self._redis(lambda client: client.hgetall(self.key))
        if stored is NOT_USED:
            return
        if not stored:  # never written, or flushed: the fleet starts from this process's state
            self._redis(self._initialize)
        with self._lock:
            if stored:
                self._fields = {**INITIAL, **_decode(stored)}
            self._read_at = time.monotonic()

    def add_event(self, event):
        """Keep one change of state (a dict of JSON values), newest first, at most `history_length`."""
        self._history.appendleft(event)
        text, last = json.dumps(event), self.history_length - 1
        self._redis(
            lambda client: client.pipeline().lpush(self.history_key, text).ltrim(self.history_key, 0, last).execute()
        )

    def history(self):
        """The changes of state, newest first: the fleet's from Redis, else those seen by this process."""
        stored = self._redis(lambda client: client.lrange(self.history_key, 0, self.history_length - 1))
        if stored is NOT_USED:
            return list(self._history)
        return [json.loads(item) for item in stored]

    def forget(self):
        """Remove the stored state and history (tests, and a breaker taken out of the settings)."""
        with self._lock:
            self._fields, self._read_at = dict(INITIAL), -float("inf")
            self._history.clear()
        self._redis(lambda client: client.delete(self.key, self.history_key))

    def _redis(self, operation):
        """`operation(client)`'s value, or NOT_USED when Redis is not configured or does not answer now."""
        if not self.link.usable():
            return NOT_USED
        try:
            return self.link.run(operation)
        except LinkDown:
            return NOT_USED

    def _push(self, client, text):
        client.pipeline().lpush(self.history_key, text).ltrim(self.history_key, 0, self.history_length - 1).execute()

    def _initialize(self, client):
        pipeline = client.pipeline()
        for field, value in _encode(self._fields).items():
            pipeline.hsetnx(self.key, field, value)
        pipeline.execute()

    def _write(self, values):
        with self._lock:
            self._fields.update(values)
        self._redis(lambda client: client.hset(self.key, mapping=_encode(values)))

    def _increment(self, field):
        value = self._redis(lambda client: client.hincrby(self.key, field, 1))
        with self._lock:
            self._fields[field] = self._fields[field] + 1 if value is NOT_USED else int(value)


def _encode(values):
    encoded = {}
    for field, value in values.items():
        if field in TIMES:
            encoded[field] = "" if value is None else repr(value.timestamp())
        else:
            encoded[field] = str(value)
    return encoded


def _decode(stored):
    fields = {}
    for raw_field, raw_value in stored.items():
        field, value = raw_field.decode(), raw_value.decode()
        if field not in FIELDS:
            continue
        if field in COUNTERS:
            fields[field] = int(value or 0)
        elif field in TIMES:
            fields[field] = datetime.fromtimestamp(float(value), tz=UTC) if value else None
        else:
            fields[field] = value
    return fields
