"""A served portal under a bounded stream of mixed requests, every answer recorded: the resilience system
tests and bench/resilience.py drive PostgreSQL and Redis outages under it.

`served_portal()` starts throwaway PostgreSQL and Redis, migrates, collects static files, makes an
operator with a session (verified by a second factor) and an ops API token, and serves the portal
with its production gunicorn configuration (DEBUG off, probes on their own listener). `Traffic` runs
client threads over staff pages and the ops API, and a prober on the probes' listener, as a load
balancer would.
"""

import contextlib
import json
import statistics
import threading
import time
from dataclasses import dataclass, field
from http.client import HTTPConnection

from tests.services import portal_gunicorn, throwaway_postgres, throwaway_redis
from tests.system.conftest import manage, server_environment

CREDENTIALS = """
import json
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice
from portal.accounts.tokens import issue_token
user = get_user_model().objects.create_superuser("operator", "operator@example.com", "not-used-here")
session = SessionStore()
session["_auth_user_id"], session["_auth_user_backend"] = str(user.pk), "django.contrib.auth.backends.ModelBackend"
session["_auth_user_hash"] = user.get_session_auth_hash()
# Production requires a second factor of an operator (PORTAL_OTP_REQUIRED): this session gave one.
session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.create(user=user, name="app", confirmed=True).persistent_id
session.create()
print(json.dumps({"session": session.session_key, "token": issue_token(user, "traffic")[1]}))
"""

PAGES = ("/admin/", "/admin/stocks/stock/", "/admin/opsadmin/opsrun/")
API = ("/api/ops/status/", "/api/ops/runs/")
PROBES = ("/health/live/", "/health/ready/")


@dataclass
class Stack:
    postgres: object  # tests.services.PostgresURL: stop/start, pause/resume
    redis: object  # tests.services.RedisServer: kill/start, pause/resume
    gunicorn: object  # the master process
    port: int
    probe_port: int
    session: str
    token: str
    environment: dict
    log: object

    def workers(self):
        """The pids of gunicorn's workers now: a restarted worker has a new one."""
        import psutil

        return sorted(child.pid for child in psutil.Process(self.gunicorn.pid).children())


@contextlib.contextmanager
def served_portal(tmp_path, *, workers=2, threads=4, **settings):
    """A `Stack`: the portal under gunicorn on throwaway PostgreSQL and Redis; `settings` go to its environment."""
    with throwaway_postgres() as postgres, throwaway_redis() as redis:
        environment, credentials = prepare(tmp_path, postgres, redis, **settings)
        with serve(environment, credentials, postgres, redis, tmp_path / "gunicorn.log", workers, threads) as stack:
            yield stack


def prepare(tmp_path, postgres, redis, **settings):
    """(environment, credentials) of a portal on these servers, migrated, its static files collected."""
    environment = server_environment(
        DATABASE_URL=postgres, REDIS_URL=redis, STATIC_ROOT=str(tmp_path / "static"), **settings
    )
    for command in (("migrate", "--no-input"), ("collectstatic", "--no-input")):
        done = manage(*command, environment=environment, timeout=300)
        assert done.returncode == 0, done.stderr
    made = manage("shell", "-c", CREDENTIALS, environment=environment)
    assert made.returncode == 0, made.stderr
    return environment, json.loads(made.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def serve(environment, credentials, postgres, redis, log, workers=2, threads=4):
    """The portal under its production gunicorn configuration, as a `Stack`."""
    with portal_gunicorn(environment, workers=workers, threads=threads, log=log) as (process, port, probe_port):
        yield Stack(postgres, redis, process, port, probe_port, environment=environment, log=log, **credentials)


@dataclass(frozen=True)
class Answer:
    kind: str  # "page", "api" or "probe"
    path: str
    started: float  # time.monotonic()
    seconds: float
    status: int | None  # None: no answer (the error says why)
    retry_after: str | None
    error: str = ""
    body: bytes = b""  # kept for answers other than 200 (a 503 probe names its failing checks)


@dataclass
class Traffic:
    """Client threads requesting staff pages and the ops API in turn, and one prober; `answers` keeps every one."""

    stack: Stack
    clients: int = 4
    pause: float = 0.02  # between one client's requests: a bounded stream, not a flood
    probe_every: float | None = 0.1  # None: no prober (a load balancer in front does its own probing)
    timeout: float = 30.0
    answers: list = field(default_factory=list)

    def __post_init__(self):
        self._stop = threading.Event()
        self._threads = []

    def __enter__(self):
        requests = [("page", path) for path in PAGES] + [("api", path) for path in API]
        for number in range(self.clients):
            mine = requests[number % len(requests) :] + requests[: number % len(requests)]
            self._threads.append(threading.Thread(target=self._client, args=(mine,), daemon=True))
        if self.probe_every is not None:
            self._threads.append(threading.Thread(target=self._prober, daemon=True))
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)

    def _client(self, requests):
        headers = {
            "page": {"Cookie": f"sessionid={self.stack.session}", "Accept": "text/html"},
            "api": {"Authorization": f"Bearer {self.stack.token}", "Accept": "application/json"},
        }
        while not self._stop.is_set():
            for kind, path in requests:
                self._ask(self.stack.port, kind, path, headers[kind])
                if self._stop.wait(self.pause):
                    return

    def _prober(self):
        while not self._stop.is_set():
            for path in PROBES:
                self._ask(self.stack.probe_port, "probe", path, {})
                if self._stop.wait(self.probe_every):
                    return

    def _ask(self, port, kind, path, headers):
        started = time.monotonic()
        connection = HTTPConnection("127.0.0.1", port, timeout=self.timeout)
        status, retry_after, error, body = None, None, "", b""
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read()
            status, retry_after = response.status, response.getheader("Retry-After")
        except OSError as failure:
            error = f"{type(failure).__name__}: {failure}"
        finally:
            connection.close()
        kept = body[:500] if status != 200 else b""
        self.answers.append(Answer(kind, path, started, time.monotonic() - started, status, retry_after, error, kept))

    def between(self, start, end, *kinds):
        """The answers to requests sent from `start` to `end` (monotonic times), of these kinds (all if none)."""
        return [a for a in self.answers if start <= a.started < end and (not kinds or a.kind in kinds)]

    def meeting(self, start, end, *kinds):
        """The answers to requests that were waiting at some time from `start` to `end`: sent then, or before and
        still unanswered at `start`."""
        return [
            answer
            for answer in self.answers
            if answer.started < end and answer.started + answer.seconds >= start and (not kinds or answer.kind in kinds)
        ]

    def finished_before(self, moment):
        """The answers to requests sent and answered before `moment`: all was well for them."""
        return [answer for answer in self.answers if answer.started + answer.seconds < moment]


def summary(answers):
    """One line for a test's output: requests sent, how many failed (no answer, or not 200), the longest latency."""
    failed = sum(1 for answer in answers if answer.status != 200)
    longest = max((answer.seconds for answer in answers), default=0.0)
    return f"{len(answers)} requests sent, {failed} failed, longest {longest:.3f} s"


def latency(answers):
    """(p50, p99, max) seconds of `answers`."""
    seconds = sorted(answer.seconds for answer in answers)
    if not seconds:
        return (0.0, 0.0, 0.0)
    p99 = seconds[min(len(seconds) - 1, int(len(seconds) * 0.99))]
    return statistics.median(seconds), p99, seconds[-1]
