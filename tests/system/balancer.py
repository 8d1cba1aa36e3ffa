"""HAProxy in front of two portal instances under gunicorn, as production would run them: the load balancer
system tests (issue 15) drive clients through it while instances drain, stop or restart.

`balanced_portal()` starts one throwaway PostgreSQL and Redis, migrates once (tests/system/traffic.py's
`prepare`), serves two instances with the portal's gunicorn configuration (portal/gunicorn.conf.py), each on
its own loopback port with its own probe listener, and HAProxy (Debian's `haproxy`) in front of both. HAProxy
health-checks each instance's `/health/ready/` on its probe port; its stats socket tells a test each server's
state (`server_states()`, `wait_for_state()`).

The check timing is small so a test is seconds long, and its bound is known: a server is marked DOWN after
FALL failed checks INTER apart (FALL x INTER = 1 s) and UP after RISE good ones. FALL and RISE are 2, not 1, so
one slow or lost check on a loaded machine neither takes a serving instance out nor puts a failing one back. That
holds while an instance's readiness verdict is cached for less than INTER (PORTAL_READINESS_CACHE_SECONDS: 0 here
unless a test sets it): a verdict cached longer answers several checks in a row, and one slow run counts FALL times.
"""

import contextlib
import csv
import io
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, replace
from pathlib import Path

from tests.services import (
    free_port,
    portal_gunicorn,
    postgres_unavailable,
    redis_unavailable,
    skip_or_fail,
    stop_process,
    throwaway_postgres,
    throwaway_redis,
)
from tests.system.traffic import Stack, prepare

INTER = 0.5  # seconds between two checks of a server
FALL = 2  # failed checks in a row that mark a server DOWN
RISE = 2  # good checks in a row that mark it UP again
READINESS_CACHE = 0.4  # PORTAL_READINESS_CACHE_SECONDS of the instances: shorter than INTER
SERVERS = ("web1", "web2")
BACKEND = "portal"


def haproxy_unavailable():
    """Why HAProxy can't run here, in one line; None when it can."""
    if not shutil.which("haproxy"):
        return "HAProxy not found: install haproxy (Debian's package)"
    return None


def require_servers():
    """Skip the test (fail it under CI=true) when PostgreSQL, Redis or HAProxy is missing."""
    for reason in (postgres_unavailable(), redis_unavailable(), haproxy_unavailable()):
        if reason:
            skip_or_fail(reason)


@dataclass
class Instance:
    name: str  # HAProxy's name for it: "web1"
    process: object  # gunicorn's master
    port: int
    probe_port: int
    log: Path

    @property
    def instance_id(self):
        """The id the portal gives this instance: its host and the port of its main listener."""
        return f"{socket.gethostname()}:{self.port}"


@dataclass
class Balanced:
    """Two instances behind HAProxy. `stack` is a traffic.Stack whose port is HAProxy's (for `Traffic`)."""

    stack: Stack
    instances: dict  # name -> Instance
    haproxy: object  # its process
    port: int  # HAProxy's frontend
    stats_socket: Path
    config: Path

    def command(self, line):
        """The stats socket's answer to one command ("show stat")."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(5)
            client.connect(str(self.stats_socket))
            client.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := client.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def server_stats(self):
        """{server name: its row of `show stat`} for the backend's servers (status, stot, check_status...)."""
        text = self.command("show stat").lstrip("# ")
        rows = csv.DictReader(io.StringIO(text))
        return {row["svname"]: row for row in rows if row["pxname"] == BACKEND and row["svname"] in self.instances}

    def server_states(self):
        """{"web1": "UP", "web2": "DOWN"}: HAProxy's status of each server ("UP 1/2" while going down)."""
        return {name: row["status"] for name, row in self.server_stats().items()}

    def wait_for_state(self, name, state, timeout):
        """Seconds until HAProxy reported server `name` in `state`; AssertionError after `timeout` s."""
        start = time.monotonic()
        while True:
            now = self.server_states().get(name)
            if now == state:
                return time.monotonic() - start
            if time.monotonic() - start > timeout:
                rows = self.server_stats()
                checks = {server: (row["status"], row["check_status"], row["last_chk"]) for server, row in rows.items()}
                raise AssertionError(f"{name} not {state} within {timeout} s: {checks}")
            time.sleep(0.05)

    def wait_for_every(self, state, timeout, since=None):
        """{server name: seconds from `since` (a monotonic time; default now) until HAProxy first reported it in
        `state`} once every server was; AssertionError after `timeout` s from `since`."""
        start = time.monotonic() if since is None else since
        seen = {}
        while True:
            now = time.monotonic() - start
            for name, status in self.server_states().items():
                if status == state:
                    seen.setdefault(name, now)
            if len(seen) == len(self.instances):
                return seen
            if now > timeout:
                rows = self.server_stats()
                checks = {server: (row["status"], row["check_status"], row["last_chk"]) for server, row in rows.items()}
                raise AssertionError(f"not every server {state} within {timeout} s (seen: {seen}): {checks}")
            time.sleep(0.05)

    def sessions(self):
        """How many requests HAProxy has sent to each server so far ({name: stot})."""
        return {name: int(row["stot"]) for name, row in self.server_stats().items()}


def haproxy_config(port, stats_socket, instances):
    servers = "\n".join(
        f"    server {instance.name} 127.0.0.1:{instance.port} check port {instance.probe_port}"
        for instance in instances
    )
    return f"""global
    stats socket {stats_socket} mode 600 level admin
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout check 2s
frontend fe
    bind 127.0.0.1:{port}
    default_backend {BACKEND}
backend {BACKEND}
    balance roundrobin
    option httpchk GET /health/ready/
    http-check expect status 200
    default-server inter {int(INTER * 1000)}ms fall {FALL} rise {RISE}
{servers}
"""


@contextlib.contextmanager
def run_haproxy(directory, instances):
    """HAProxy in the foreground (our child) in front of `instances`; yields (process, port, stats socket, config)
    once every server is UP."""
    stats_socket = directory / "haproxy.sock"  # absolute: HAProxy rejects a relative path
    config = directory / "haproxy.cfg"
    log = directory / "haproxy.log"
    for attempt in range(3):  # another process may take the port before HAProxy binds it
        port = free_port()
        config.write_text(haproxy_config(port, stats_socket, instances))
        checked = subprocess.run(["haproxy", "-c", "-f", str(config)], capture_output=True, text=True, check=False)
        assert checked.returncode == 0, f"haproxy -c rejected {config}:\n{checked.stdout}{checked.stderr}"
        with open(log, "ab") as output:
            process = subprocess.Popen(
                ["haproxy", "-db", "-f", str(config)], stdout=output, stderr=output, start_new_session=True
            )
        deadline = time.monotonic() + 10
        while not stats_socket.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if process.poll() is None and stats_socket.exists():
            break
        stop_process(process)
        said = log.read_text(errors="replace")[-2000:]
        port_taken = "Address already in use" in said or "cannot bind" in said
        if not port_taken or attempt == 2:
            raise RuntimeError(f"haproxy did not start:\n{said}")
    try:
        yield process, port, stats_socket, config
    finally:
        stop_process(process)


@contextlib.contextmanager
def balanced_portal(tmp_path, *, workers=2, threads=4, **settings):
    """A `Balanced`: two portal instances on one throwaway PostgreSQL and Redis, behind HAProxy, both UP.

    Their readiness verdicts last less than INTER, as docs/deployment.md asks of a deployment: a verdict reused
    for two checks would count one slow run of the checks twice, and FALL would mark a healthy instance down."""
    settings.setdefault("PORTAL_READINESS_CACHE_SECONDS", str(READINESS_CACHE))
    with throwaway_postgres() as postgres, throwaway_redis() as redis, contextlib.ExitStack() as stack:
        environment, credentials = prepare(tmp_path, postgres, redis, **settings)
        instances = {}
        for name in SERVERS:
            log = tmp_path / f"{name}.log"
            process, port, probe_port = stack.enter_context(
                portal_gunicorn(environment, workers=workers, threads=threads, log=log)
            )
            instances[name] = Instance(name, process, port, probe_port, log)
        haproxy, port, stats_socket, config = stack.enter_context(run_haproxy(tmp_path, instances.values()))
        served = Stack(postgres, redis, None, port, None, environment=environment, log=None, **credentials)
        balanced = Balanced(served, instances, haproxy, port, stats_socket, config)
        for name in SERVERS:
            balanced.wait_for_state(name, "UP", timeout=10)
        yield balanced


def direct(balanced, name):
    """A traffic.Stack for instance `name` itself, past HAProxy."""
    instance = balanced.instances[name]
    return replace(balanced.stack, gunicorn=instance.process, port=instance.port, probe_port=instance.probe_port)
