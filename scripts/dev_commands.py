"""The commands of scripts/dev.py: one implementation of `make venv|run|test`, standard library only, the same
on POSIX and Windows. Every child is started from an argument list (no shell), every path is a `pathlib.Path`.
"""

import argparse
import hashlib
import os
import signal
import subprocess
import sys
import time
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv"
REQUIREMENTS = REPO / "requirements.txt"
INSTALLED = VENV / ".installed"  # the hash of the requirements.txt last installed
WINDOWS = os.name == "nt"
WORKER_RESTART_SECONDS = 5
# Longer than the task worker's PORTAL_TASK_STOP_SECONDS (25 s by default): it may finish the task in hand.
STOP_SECONDS = 30
POLL_SECONDS = 0.2
SETUP = (
    ("migrate", "--no-input"),
    ("seed_stocks", "--if-empty", "--stocks", "500", "--days", "252", "--seed", "1"),
    ("ensure_admin",),
)


def main(argv):
    cli = parser()
    arguments, rest = cli.parse_known_args(argv)
    if rest and arguments.command != "test":
        cli.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        if arguments.command == "venv":
            ensure_venv()
            return 0
        python = Path(arguments.python) if arguments.python else ensure_venv()
        if arguments.command == "run":
            return run(python, arguments.port)
        return run_to_end([python, "-m", "tests.matrix", *rest])
    except subprocess.CalledProcessError as error:
        print(f"dev.py: {' '.join(str(part) for part in error.cmd)} exited with {error.returncode}", file=sys.stderr)
        return error.returncode or 1


def parser():
    parser = argparse.ArgumentParser(prog="scripts/dev.py", description="What make venv, run and test do, on any OS.")
    parser.add_argument(
        "--python",
        metavar="PATH",
        help="run with this interpreter, whose environment has the requirements: .venv is neither made nor updated",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("venv", help="create .venv and install requirements.txt into it when it changed")
    serve = commands.add_parser("run", help="migrate, seed the demo data, ensure the admin, serve with a task worker")
    serve.add_argument("--port", type=int, default=os.environ.get("PORT") or "8000", help="default: $PORT or 8000")
    # No options of its own, not even --help: every argument after `test` goes to pytest, through tests.matrix.
    commands.add_parser("test", add_help=False, help="the test suite on SQLite, then PostgreSQL + Redis [pytest args]")
    return parser


# --- venv ------------------------------------------------------------------------------------------------


def venv_python(environment, os_name=os.name):
    """A virtual environment's interpreter, where venv puts it: Scripts\\python.exe on Windows, else bin/python."""
    if os_name == "nt":
        return environment / "Scripts" / "python.exe"
    return environment / "bin" / "python"


def ensure_venv(environment=VENV, requirements=REQUIREMENTS):
    """The venv's interpreter, once the environment exists and has the requirements of this requirements.txt."""
    python = venv_python(environment)
    marker = environment / INSTALLED.name
    if not python.exists():
        print(f"Creating {environment.name} with Python {sys.version.split()[0]} ({sys.executable})", flush=True)
        venv.create(environment, with_pip=True)
        marker.unlink(missing_ok=True)
    if needs_install(requirements, marker):
        pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", requirements]
        subprocess.run(pip, cwd=REPO, check=True)
        marker.write_text(requirements_hash(requirements) + "\n", encoding="utf-8")
    return python


def requirements_hash(requirements):
    return hashlib.sha256(requirements.read_bytes()).hexdigest()


def needs_install(requirements, marker):
    """True unless `marker` holds the hash of `requirements` as it is now.

    A hash and not the files' times: a checkout, a branch switch or a copy gives requirements.txt a new time
    without a new line in it (a needless reinstall), and a file put back as it was may be older than the
    marker (a missed one). The hash changes exactly when the content does. The marker is written only after
    pip succeeded, so a failed install is tried again next time.
    """
    try:
        installed = marker.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return True
    return installed != requirements_hash(requirements)


# --- children ----------------------------------------------------------------------------------------------


def run_to_end(command):
    """Run a child to its end and return its exit code, Ctrl+C included.

    The terminal sends Ctrl+C to the child too (the same process group, the same console), and the child stops
    on its own terms: tests.matrix stops its throwaway PostgreSQL and Redis first. This process only waits:
    were it to stop the child (subprocess.run kills it on KeyboardInterrupt), those servers would be left running.
    """
    previous = signal.signal(signal.SIGINT, lambda signum, frame: None)
    try:
        return subprocess.run(command, cwd=REPO, check=False).returncode
    finally:
        signal.signal(signal.SIGINT, previous)


def manage(python, *arguments):
    code = run_to_end([python, "manage.py", *arguments])
    if code != 0:
        raise subprocess.CalledProcessError(code, ["manage.py", *arguments])


def start(command):
    """A child that `ask_to_stop` can stop.

    On Windows it gets a process group of its own, since CTRL_BREAK_EVENT can only be sent to a group. On POSIX
    it stays in the terminal's foreground group, as under a shell: a breakpoint() in a view can read the terminal.
    """
    flags = subprocess.CREATE_NEW_PROCESS_GROUP if WINDOWS else 0
    return subprocess.Popen(command, cwd=REPO, creationflags=flags)


def ask_to_stop(process):
    """On POSIX SIGTERM, as `make run` sent: Django's autoreloader (runserver's, and the task worker's in DEBUG)
    exits on it and kills the child it reloads, and the task worker alone stops as on Ctrl+C; SIGINT would be
    ignored by a process that inherited it ignored (a shell's background job). On Windows CTRL_BREAK_EVENT to the
    child's group (a new group has Ctrl+C disabled, and CTRL_C_EVENT can't be sent to one group alone): a process
    without a SIGBREAK handler, as both are, ends on it, and the group holds the reloaded children too."""
    if process.poll() is None:
        process.send_signal(signal.CTRL_BREAK_EVENT if WINDOWS else signal.SIGTERM)


def stop(processes, seconds=STOP_SECONDS):
    """Ask every child to stop, wait up to `seconds` for all, then kill what is left (on Windows `kill` is
    `terminate`). A second Ctrl+C while waiting kills them at once."""
    for process in processes:
        ask_to_stop(process)
    deadline = time.monotonic() + seconds
    try:
        for process in processes:
            process.wait(timeout=max(deadline - time.monotonic(), 0))
    except subprocess.TimeoutExpired:
        pass
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


class Supervised:
    """A child started again WORKER_RESTART_SECONDS after it exits with an error, as `make run` did for the task
    worker; one that exits 0 (a signal stopped it) stays stopped."""

    def __init__(self, command, name):
        self.command, self.name = command, name
        self.process = self.restart_at = None

    def start(self):
        self.process, self.restart_at = start(self.command), None

    def tend(self):
        """Called in the serving loop: notice an exit with an error, and start the child again when it's time."""
        if self.restart_at is not None:
            if time.monotonic() >= self.restart_at:
                self.start()
        elif self.process.poll() not in (None, 0):
            print(
                f"dev.py run: the {self.name} exited with {self.process.returncode}; "
                f"starting it again in {WORKER_RESTART_SECONDS} s",
                file=sys.stderr,
                flush=True,
            )
            self.restart_at = time.monotonic() + WORKER_RESTART_SECONDS


# --- run ---------------------------------------------------------------------------------------------------


def run(python, port):
    """`make run`: set up the database, then the development server and the task worker until either Ctrl+C
    or the server's end; both are stopped then, whichever came first."""
    os.environ.setdefault("DEBUG", "1")  # DEBUG=0 to see the production behaviour (it needs SECRET_KEY)
    bind = os.environ["PORTAL_BIND"] = f"127.0.0.1:{port}"  # the instance's name on the fleet pages
    for arguments in SETUP:
        manage(python, *arguments)
    print(f"Serving the portal at http://{bind}/ (admin at /admin/), with a task worker", flush=True)
    # A SIGTERM to this process (a supervisor, `kill`) stops the children as Ctrl+C does.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    worker = Supervised([python, "manage.py", "ops_worker"], "task worker")
    server = None
    try:
        worker.start()
        server = start([python, "manage.py", "runserver", bind])
        while server.poll() is None:
            worker.tend()
            time.sleep(POLL_SECONDS)
        return server.returncode
    except KeyboardInterrupt:
        return 130
    finally:
        stop([process for process in (server, worker.process) if process is not None])
