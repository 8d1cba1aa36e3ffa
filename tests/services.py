"""Throwaway PostgreSQL and Redis servers for the test run.

`make test` runs the suite against real servers, but it must not depend on how the
machine's own servers are configured (or whether they run at all). So each run starts
its own from the installed binaries: in a temporary directory, on 127.0.0.1 and a free
port, without durability, and removes everything when the `with` block ends, also on
an exception or Ctrl-C.

    with throwaway_postgres() as database_url, throwaway_redis() as redis_url:
        ...

`throwaway_pgbouncer(database_url)` puts a PgBouncer (transaction pooling) in front of such a server.

`postgres_unavailable()` / `redis_unavailable()` / `pgbouncer_unavailable()` return a one-line reason when a server
cannot be started here (None when it can), so callers can skip with that reason.

The PostgreSQL URL can also stop its server and start it again (`url.stop()`, `url.start()`):
an outage test's database restart.

`gunicorn(...)` serves the portal (or any WSGI app) for system tests and benchmarks alike, on ports
picked afresh when another process takes one first; `http(...)` makes one request to it;
`HangingServer` accepts and never answers.
"""

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import psycopg2
import redis

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the virtual environment's scripts: gunicorn
POSTGRES_BIN_GLOB = "/usr/lib/postgresql/*/bin"  # Debian keeps initdb/pg_ctl off PATH
POSTGRES_USER = "postgres"  # the OS user that runs the server when we are root


class ServiceUnavailable(RuntimeError):
    """The server's binaries are missing; the message says what to install."""


def in_ci():
    """In CI a missing server is an error: a green run must mean the tests really ran."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def skip_or_fail(reason):
    """Skip the current test for `reason`, or fail it in CI (see `in_ci`)."""
    import pytest

    if in_ci():
        pytest.fail(f"{reason} (CI=true: missing services fail the run)", pytrace=False)
    pytest.skip(reason)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- PostgreSQL ---------------------------------------------------------------------


def postgres_bindir():
    """The directory holding initdb and pg_ctl: pg_config's answer, else the newest Debian version."""
    candidates = []
    if shutil.which("pg_config"):
        result = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(result.stdout.strip())
    by_version = sorted(glob.glob(POSTGRES_BIN_GLOB), key=lambda path: _version_key(Path(path).parent.name))
    candidates.extend(reversed(by_version))
    for candidate in filter(None, candidates):
        if (Path(candidate) / "initdb").is_file() and (Path(candidate) / "pg_ctl").is_file():
            return Path(candidate)
    return None


def _version_key(name):
    return [int(part) if part.isdigit() else 0 for part in name.split(".")]


def postgres_unavailable():
    """Why a throwaway PostgreSQL can't be started here, in one line; None when it can."""
    if postgres_bindir() is None:
        return "PostgreSQL not found: install postgresql (initdb missing)"
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # initdb refuses to run as root (POSIX: Windows has no root)
        import pwd  # here, not at the top: POSIX only, and the SQLite pass imports this module on Windows too

        if not shutil.which("runuser"):
            return "PostgreSQL can't start as root: runuser missing (install util-linux)"
        try:
            pwd.getpwnam(POSTGRES_USER)
        except KeyError:
            return f"PostgreSQL can't start as root: no {POSTGRES_USER!r} user (install postgresql)"
    return None


class PostgresURL(str):
    """A throwaway server's URL that can also stop the server (fast: clients are cut off) and start it again,
    or pause it (SIGSTOP to the postmaster and every backend: a hung server) and resume it.

    The same data directory and port, so clients reconnect to the URL they had; another process
    could take the port while the server is down, which is unlikely for the seconds of a test.
    """

    def __new__(cls, url, *, stop, start, data, log=None):
        self = super().__new__(cls, url)
        self.stop, self.start, self.data, self.log = stop, start, data, log
        return self

    def postmaster(self):
        return psutil.Process(int((self.data / "postmaster.pid").read_text().split()[0]))

    def pause(self):
        """The postmaster first (it forks no more backends), then every backend; one that just exited is skipped."""
        postmaster = self.postmaster()
        postmaster.suspend()
        for backend in postmaster.children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                backend.suspend()

    def resume(self):
        """Backends first: a resumed postmaster reaps a backend that had exited, and that pid is then gone."""
        postmaster = self.postmaster()
        for backend in postmaster.children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                backend.resume()
        postmaster.resume()


@contextlib.contextmanager
def throwaway_postgres(*, log_connections=False):
    """Yield the URL of a fresh PostgreSQL cluster, with pg_stat_statements (and hypopg) ready.

    The extensions go into template1 so the test database Django creates from it has them.
    `log_connections`: its log (the URL's `log`) has a line for every connection made, with its application_name.
    """
    reason = postgres_unavailable()
    if reason:
        raise ServiceUnavailable(reason)
    bindir = postgres_bindir()
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", POSTGRES_USER, "--"] if as_root else []
    root = Path(tempfile.mkdtemp(prefix="portal-pg-"))
    data, log = root / "data", root / "server.log"
    options = (
        f"-c listen_addresses=127.0.0.1 -k {root} -c shared_preload_libraries=pg_stat_statements"
        " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    ) + (" -c log_connections=on" if log_connections else "")
    started = False

    def pg(*args):
        # cwd=root: the postgres user may not be allowed into our working directory.
        result = subprocess.run(prefix + [str(a) for a in args], cwd=root, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            server_log = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{Path(args[0]).name} failed:\n{result.stdout}{result.stderr}{server_log}")

    def start(port):
        pg(bindir / "pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "-o", f"{options} -p {port}", "start")

    def stop(mode="fast"):
        pg(bindir / "pg_ctl", "-D", data, "-m", mode, "-w", "-t", "30", "stop")

    try:
        if as_root:
            shutil.chown(root, POSTGRES_USER, POSTGRES_USER)
        initdb_options = ["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]
        pg(bindir / "initdb", "-D", data, *initdb_options)
        started = True  # from here on, stop it even if starting fails halfway
        for attempt in range(3):  # another process may grab the free port before the server binds it
            port = free_port()
            try:
                start(port)
                break
            except RuntimeError as error:
                if "Address already in use" not in str(error) or attempt == 2:
                    raise
        url = f"postgres://postgres@127.0.0.1:{port}/postgres"
        for database in ("template1", "postgres"):
            _create_extensions(f"postgres://postgres@127.0.0.1:{port}/{database}")
        yield PostgresURL(url, stop=stop, start=lambda: start(port), data=data, log=log)
    finally:
        if started:
            with contextlib.suppress(OSError, psutil.Error):  # a test may have left it paused
                PostgresURL("", stop=stop, start=None, data=data).resume()
            for mode in ("fast", "immediate"):
                with contextlib.suppress(RuntimeError):  # also when a test left it stopped
                    stop(mode)
                    break
        shutil.rmtree(root, ignore_errors=True)


def _create_extensions(url):
    """pg_stat_statements always; hypopg only where its package is installed (optional)."""
    connection = psycopg2.connect(url, connect_timeout=5)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg'")  # its control file
            if cursor.fetchone():
                cursor.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
    finally:
        connection.close()


# --- PgBouncer ----------------------------------------------------------------------

PGBOUNCER = "/usr/sbin/pgbouncer"  # Debian's package puts it off a user's PATH


def pgbouncer_binary():
    return shutil.which("pgbouncer") or (PGBOUNCER if Path(PGBOUNCER).is_file() else None)


def pgbouncer_unavailable():
    """Why a throwaway PgBouncer can't be started here, in one line; None when it can."""
    if pgbouncer_binary() is None:
        return "PgBouncer not found: install pgbouncer (pgbouncer missing)"
    return None


class PgBouncerURL(str):
    """A throwaway PgBouncer's URL (same user and database as the server's); `admin` is its console's URL."""

    def __new__(cls, url, *, admin, log):
        self = super().__new__(cls, url)
        self.admin, self.log = admin, log
        return self


@contextlib.contextmanager
def throwaway_pgbouncer(postgres_url, *, pool_mode="transaction", pool_size=4):
    """Yield the URL of a PgBouncer in front of `postgres_url` (every database), as our child process.

    Trust authentication (its users file names the server's user), configured otherwise as
    docs/deployment.md has it: a client sending a startup `options` is refused. Pools are small
    (`pool_size` server connections per database and user): transactions of different clients share
    server connections, which is what the tests of transaction pooling need to see.
    """
    reason = pgbouncer_unavailable()
    if reason:
        raise ServiceUnavailable(reason)
    server = urlsplit(postgres_url)
    root = Path(tempfile.mkdtemp(prefix="portal-pgbouncer-"))
    process = None
    try:
        (root / "users.txt").write_text(f'"{server.username}" ""\n')
        if os.geteuid() == 0:  # PgBouncer refuses to run as root; it switches to `user` itself
            shutil.chown(root, POSTGRES_USER, POSTGRES_USER)
        for attempt in range(3):  # another process may grab the free port before PgBouncer binds it
            port = free_port()
            (root / "pgbouncer.ini").write_text(_pgbouncer_config(root, port, server, pool_mode, pool_size))
            process = _start_pgbouncer(root)
            try:
                _wait_for_pgbouncer(process, port, server.username, root / "pgbouncer.log")
                break
            except RuntimeError as error:
                if "Address already in use" not in str(error) or attempt == 2:
                    raise
        url = server._replace(netloc=f"{server.username}@127.0.0.1:{port}").geturl()
        admin = server._replace(netloc=f"{server.username}@127.0.0.1:{port}", path="/pgbouncer").geturl()
        yield PgBouncerURL(url, admin=admin, log=root / "pgbouncer.log")
    finally:
        if process is not None and process.poll() is None:
            stop_process(process)
        shutil.rmtree(root, ignore_errors=True)


def _pgbouncer_config(root, port, server, pool_mode, pool_size):
    user = f"user = {POSTGRES_USER}\n" if os.geteuid() == 0 else ""
    return (
        f"[databases]\n* = host={server.hostname} port={server.port}\n\n[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {root / 'users.txt'}\nadmin_users = {server.username}\n"
        f"pool_mode = {pool_mode}\ndefault_pool_size = {pool_size}\nmax_client_conn = 500\n"
        f"logfile = {root / 'pgbouncer.log'}\n{user}"
    )


def _start_pgbouncer(root):
    (root / "pgbouncer.log").unlink(missing_ok=True)  # a retry must not read the last attempt's errors
    command = [pgbouncer_binary(), str(root / "pgbouncer.ini")]
    quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}  # logfile has it
    return subprocess.Popen(command, cwd=root, start_new_session=True, **quiet)


def _wait_for_pgbouncer(process, port, user, log):
    def answers():
        psycopg2.connect(host="127.0.0.1", port=port, user=user, dbname="pgbouncer", connect_timeout=1).close()
        return True

    _wait_until_answering("pgbouncer", process, log, answers, psycopg2.OperationalError, f"on port {port}")


def _wait_until_answering(name, process, log, answers, refusals, where, timeout=10):
    """Until `answers()` is true; raises with the end of `log` if the server exits, or once `refusals` (errors)
    have lasted `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            said = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{name} exited with status {process.returncode}:\n{said}")
        try:
            if answers():
                return
        except refusals:
            if time.monotonic() > deadline:
                stop_process(process)
                raise RuntimeError(f"{name} did not answer {where} within {timeout} s") from None
            time.sleep(0.02)


# --- Redis --------------------------------------------------------------------------


def redis_unavailable():
    """Why a throwaway Redis can't be started here, in one line; None when it can."""
    if not shutil.which("redis-server"):
        return "Redis not found: install redis-server (redis-server missing)"
    return None


class RedisServer(str):
    """A throwaway Redis's URL that can also kill the server and start it again (empty, on the same port),
    or pause it (SIGSTOP: a hung server) and resume it."""

    def __new__(cls, url, *, root, port):
        self = super().__new__(cls, url)
        self.root, self.port, self.process = root, port, None
        return self

    def start(self):
        self.process = _start_redis(self.root, self.port)
        _wait_for_ping(self.process, self.port, self.root / "redis.log")

    def kill(self):
        self.process.kill()
        self.process.wait()

    def pause(self):
        psutil.Process(self.process.pid).suspend()

    def resume(self):
        psutil.Process(self.process.pid).resume()


@contextlib.contextmanager
def throwaway_redis():
    """Yield the URL of a fresh Redis without persistence, run as our child process (a `RedisServer`)."""
    reason = redis_unavailable()
    if reason:
        raise ServiceUnavailable(reason)
    root = Path(tempfile.mkdtemp(prefix="portal-redis-"))
    server = None
    try:
        for attempt in range(3):  # another process may grab the free port before Redis binds it
            port = free_port()
            server = RedisServer(f"redis://127.0.0.1:{port}/0", root=root, port=port)
            try:
                server.start()
                break
            except RuntimeError as error:
                if "Address already in use" not in str(error) or attempt == 2:
                    raise
        yield server
    finally:
        if server is not None and server.process is not None and server.process.poll() is None:
            server.resume()  # a test may have left it paused
            stop_process(server.process)
        shutil.rmtree(root, ignore_errors=True)


def _start_redis(root, port):
    (root / "redis.log").unlink(missing_ok=True)  # a retry must not read the last attempt's errors
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    command += ["--daemonize", "no", "--dir", str(root), "--logfile", str(root / "redis.log")]
    # Own session: Ctrl-C reaches us, not Redis, so tests still running get a clean shutdown in stop_process.
    return subprocess.Popen(command, cwd=root, stdin=subprocess.DEVNULL, start_new_session=True)


def _wait_for_ping(process, port, log):
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
    try:
        _wait_until_answering("redis-server", process, log, client.ping, redis.ConnectionError, f"PING on port {port}")
    finally:
        client.close()


def stop_process(process, timeout=10):
    """Terminate `process`, and kill it if it has not exited within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class HangingServer:
    """A TCP listener that accepts connections and never answers (a hung PostgreSQL or Redis)."""

    def __init__(self, backlog=128):
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=backlog)
        self.port = self.listener.getsockname()[1]
        self.accepted = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.listener.accept()
                self.accepted.append(conn)  # held open, never read or written

    def close(self):
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for conn in self.accepted:  # the stuck clients get EOF and their threads end
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        self.thread.join(2)


# --- gunicorn -----------------------------------------------------------------------


PORT_ATTEMPTS = 3  # a port picked free can be taken by another process before gunicorn binds it
PORT_TAKEN = "Connection in use"  # what gunicorn logs when a bind finds the address in use


class PortTaken(RuntimeError):
    """gunicorn could not bind a port: another process has it."""


@contextlib.contextmanager
def gunicorn(environment, *, app="portal.wsgi:application", workers=1, threads=4, log=None, extra=(), port=None):
    """Serve `app` under gunicorn on 127.0.0.1 (a free port unless given), as production would; yields the port.

    gthread workers, no control socket in the home directory. Output goes to `log` (a path)
    or is kept and shown if the server fails to answer /health/live/ (or / for another app).
    """
    probe = "/health/live/" if app.startswith("portal.") else "/"

    def serve(port):
        command = [str(BIN / "gunicorn"), app, "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
        command += ["--worker-class", "gthread", "--threads", str(threads), "--no-control-socket", *extra]
        named = {"PORTAL_BIND": f"127.0.0.1:{port}"}  # the instance's name, as production's configuration gives it
        return _serving(command, environment | named, port, probe, log)

    with _on_ports(serve, [port] if port else None, count=1) as ((port,), _process):
        yield port


@contextlib.contextmanager
def portal_gunicorn(environment, *, workers=2, threads=4, log=None, ports=None):
    """The portal under its production configuration (portal/gunicorn.conf.py); yields (process, port, probe port)
    once every worker is forked (a preloaded worker answers before the master has forked the next).

    `ports`: (port, probe port) to serve on, as a restarted instance does; else free ones. It stops at once on
    SIGTERM unless `environment` sets PORTAL_SHUTDOWN_DRAIN_SECONDS (a test that waits 10 s per stop tests nothing).
    """

    def serve(port, probe_port):
        settings = {
            "PORTAL_BIND": f"127.0.0.1:{port}",
            "PORTAL_PROBE_BIND": f"127.0.0.1:{probe_port}",
            "WEB_CONCURRENCY": str(workers),
            "PORTAL_THREADS": str(threads),
            "PORTAL_SHUTDOWN_DRAIN_SECONDS": environment.get("PORTAL_SHUTDOWN_DRAIN_SECONDS", "0"),
        }
        command = [str(BIN / "gunicorn"), "-c", "portal/gunicorn.conf.py", "portal.wsgi:application"]
        return _serving(command, environment | settings, probe_port, "/health/live/", log)

    with _on_ports(serve, ports, count=2) as ((port, probe_port), process):
        deadline = time.monotonic() + 30
        while len(psutil.Process(process.pid).children()) < workers and time.monotonic() < deadline:
            time.sleep(0.05)
        yield process, port, probe_port


@contextlib.contextmanager
def _on_ports(serve, ports, *, count):
    """Yields (ports, process) once `serve(*ports)` answers. Ports picked here (`ports` None) are picked afresh
    when one was taken before gunicorn bound it, up to PORT_ATTEMPTS times; given ports are tried once."""
    for attempt in range(1, PORT_ATTEMPTS + 1):
        chosen = ports or [free_port() for _ in range(count)]
        server = contextlib.ExitStack()
        try:
            process = server.enter_context(serve(*chosen))
        except PortTaken:
            if ports or attempt == PORT_ATTEMPTS:
                raise
            continue
        with server:
            yield chosen, process
        return


@contextlib.contextmanager
def _serving(command, environment, port, probe, log):
    """Start `command`; yields its process once it listens on `port` and `probe` answers there; stops it afterwards.

    Another process may hold the port, and answer: only the server's own listener is probed. gunicorn
    retries a port in use for 5 s before it gives up; PortTaken is raised as soon as it says so.
    """
    output = open(log, "a+b") if log else tempfile.TemporaryFile()  # noqa: SIM115  (closed below)
    start = output.seek(0, os.SEEK_END)  # a log shared with earlier servers: only this one's lines count
    process = subprocess.Popen(command, cwd=REPO, env=environment, stdout=output, stderr=output)
    name = " ".join(command[1:])
    try:
        deadline = time.monotonic() + 30
        while True:
            said = _written(output, start)
            if PORT_TAKEN in said:
                process.kill()  # it forks nothing before binding, and acts on SIGTERM only once it has bound
                process.wait()
                raise PortTaken(f"{name}: a port was taken:\n{said[-3000:]}")
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited:\n{said[-3000:]}")
            if _listens(process, port):
                with contextlib.suppress(OSError):
                    http(port, probe)
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer {probe} within 30 s:\n{said[-3000:]}")
            time.sleep(0.1)
        yield process
    finally:
        stop_process(process, timeout=15)
        output.close()


def _written(output, start):
    """What has been written to `output` from offset `start` on."""
    output.flush()
    output.seek(start)
    return output.read().decode(errors="replace")


def _listens(process, port):
    """Whether `process` itself (gunicorn's master holds the listeners) listens on `port`."""
    with contextlib.suppress(psutil.Error):
        for connection in psutil.Process(process.pid).net_connections("tcp"):
            if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port:
                return True
    return False


def http(port, path, *, method="GET", body=None, headers=None, timeout=10):
    """(status, body bytes, seconds) of one request to 127.0.0.1:`port`, on a new connection."""
    connection = HTTPConnection("127.0.0.1", port, timeout=timeout)
    start = time.monotonic()
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read(), time.monotonic() - start
    finally:
        connection.close()
