"""`make test`: the suite twice, once on the embedded defaults and once on real servers.

pytest-django loads the settings before any conftest runs, so a run's database and cache
are chosen by the environment of the pytest process. Hence two pytest processes:

1. SQLite + local-memory cache: DATABASE_URL and REDIS_URL removed; `-m "not postgres and not redis"`.
2. PostgreSQL + Redis: DATABASE_URL from the environment when set (pytest-django makes its
   own test database there), else a throwaway server; Redis always a throwaway server, since
   the tests empty the cache database before each test; `-m "not sqlite"`.

Usage: python -m tests.matrix [pytest args]     (the args go to both passes; a `-m EXPR`
among them narrows each pass's own selection instead of replacing it)

A server whose binaries are missing skips its pass with a one-line reason (Redis alone
missing: pass 2 runs on PostgreSQL without Redis, and the redis tests skip). With CI=true
a missing server fails the run instead. Exit code 5 (no tests collected) is a success.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.services import in_ci, postgres_unavailable, redis_unavailable, throwaway_postgres, throwaway_redis

REPO = Path(__file__).resolve().parent.parent
SERVER_VARIABLES = ("DATABASE_URL", "REDIS_URL")
SUCCESS_CODES = {0, 5}  # 5: nothing collected, e.g. every selected test belongs to the other pass


class NoServer(Exception):
    """A pass's server isn't there; the message is the one-line reason.

    Missing binaries skip the pass (`ok`), except in CI; a server that fails to start fails it.
    """

    def __init__(self, reason, ok):
        super().__init__(reason)
        self.ok = ok


def main(args):
    # A CI timeout sends SIGTERM: turn it into SystemExit so the servers are still stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    artifacts = os.environ.get("TEST_ARTIFACTS_DIR") or str(REPO / "test-artifacts")
    Path(artifacts).mkdir(parents=True, exist_ok=True)
    environment = dict(os.environ, TEST_ARTIFACTS_DIR=artifacts)
    summary = []  # (pass name, outcome, ok)

    name = "SQLite + local-memory cache"
    banner(1, name)
    local = {key: value for key, value in environment.items() if key not in SERVER_VARIABLES}
    summary.append((name, *run_pytest(local, "not postgres and not redis", args)))

    name = "PostgreSQL + Redis"
    banner(2, name)
    with contextlib.ExitStack() as servers:
        try:
            database_url = server_url(servers, "DATABASE_URL", "PostgreSQL", postgres_unavailable, throwaway_postgres)
        except NoServer as missing:
            summary.append((name, f"skipped: {missing}", missing.ok))
        else:
            try:
                # Never the environment's REDIS_URL: the tests empty the cache database before each test.
                redis_url = server_url(servers, None, "Redis", redis_unavailable, throwaway_redis)
            except NoServer as missing:
                summary.append(("Redis", f"not available: {missing}", missing.ok))
                redis_url = None
            servers_env = {key: value for key, value in environment.items() if key not in SERVER_VARIABLES}
            servers_env["DATABASE_URL"] = database_url
            if redis_url:
                servers_env["REDIS_URL"] = redis_url
            summary.append((name, *run_pytest(servers_env, "not sqlite", args)))

    print("\n=== summary ===")
    for name, outcome, ok in summary:
        print(f"{name}: {outcome}" + ("" if ok else "  <- FAILED"))
    return 0 if all(ok for _, _, ok in summary) else 1


def banner(number, name):
    print(f"\n=== pass {number}/2: {name} ===", flush=True)


def server_url(servers, variable, label, unavailable, throwaway):
    """The URL from the environment's `variable`, else a throwaway server's (stopped when `servers` closes)."""
    if variable and os.environ.get(variable):
        print(f"{label}: {variable} from the environment", flush=True)
        return os.environ[variable]
    reason = unavailable()
    if reason:
        print(f"{label}: {reason}" + (" (CI=true: this fails the run)" if in_ci() else ""), flush=True)
        raise NoServer(reason, ok=not in_ci())
    started = time.monotonic()
    try:
        url = servers.enter_context(throwaway())
    except RuntimeError as error:  # binaries present but the server won't start: a real problem, never a skip
        print(f"{label} failed to start: {error}", flush=True)
        raise NoServer(f"{label} failed to start (see above)", ok=False) from None
    print(f"{label}: throwaway server at {url}, started in {time.monotonic() - started:.1f} s", flush=True)
    return url


def run_pytest(environment, marker_expression, args):
    """Run one pass; returns (outcome, ok)."""
    command = [sys.executable, "-m", "pytest", *with_markers(marker_expression, args)]
    started = time.monotonic()
    code = subprocess.run(command, cwd=REPO, env=environment, check=False).returncode
    elapsed = f"{time.monotonic() - started:.1f} s"
    if code == 5:
        return f"no tests collected ({elapsed})", True
    return (f"passed ({elapsed})" if code == 0 else f"pytest exit {code} ({elapsed})"), code in SUCCESS_CODES


def with_markers(expression, args):
    """`-m EXPRESSION` for this pass, and-ed with the user's own `-m` (pytest keeps only the last -m)."""
    rest, theirs = [], None
    arguments = iter(args)
    for arg in arguments:
        if arg == "-m":
            theirs = next(arguments, "")
        elif arg.startswith("-m") and not arg.startswith("--"):
            theirs = arg[2:]
        else:
            rest.append(arg)
    if theirs:
        expression = f"({expression}) and ({theirs})"
    return ["-m", expression, *rest]


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
