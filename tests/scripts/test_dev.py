"""scripts/dev.py, the one implementation of `make venv|run|test`: the venv's interpreter on each OS, installing
only when requirements.txt changed, the Windows way of stopping children, the refusal of an old Python, and a real
`run` whose children Ctrl+C (or the server's end) stops."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath

import psutil
import pytest

from scripts import dev_commands
from tests.services import REPO, free_port, http
from tests.system.conftest import server_environment

pytestmark = pytest.mark.posix  # the runs are stopped with os.killpg (the Windows branch is tested with a fake)

SCRIPT = REPO / "scripts" / "dev.py"
PYENV = Path.home() / ".pyenv" / "versions"


@pytest.mark.parametrize(("os_name", "expected"), [("nt", ".venv/Scripts/python.exe"), ("posix", ".venv/bin/python")])
def test_the_venv_interpreter_is_where_venv_puts_it_on_each_os(os_name, expected):
    assert dev_commands.venv_python(PurePosixPath(".venv"), os_name) == PurePosixPath(expected)


@pytest.fixture
def environment(tmp_path, monkeypatch):
    """(venv directory, requirements.txt, pip calls): a venv whose interpreter exists, and pip recorded, not run."""
    venv = tmp_path / "venv"
    python = dev_commands.venv_python(venv)
    python.parent.mkdir(parents=True)
    python.touch()
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("Django==6.1.3\n", encoding="utf-8")
    calls = []

    def pip(command, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(dev_commands.subprocess, "run", pip)
    return venv, requirements, calls


def test_requirements_are_installed_once_then_again_only_when_their_content_changes(environment):
    venv, requirements, calls = environment
    dev_commands.ensure_venv(venv, requirements)
    dev_commands.ensure_venv(venv, requirements)
    assert len(calls) == 1
    assert calls[0][1:] == ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", requirements]

    later = time.time() + 3600  # newer than the marker, as after a checkout: the same content, no install
    os.utime(requirements, (later, later))
    dev_commands.ensure_venv(venv, requirements)
    assert len(calls) == 1

    requirements.write_text("Django==6.1.4\n", encoding="utf-8")
    dev_commands.ensure_venv(venv, requirements)
    assert len(calls) == 2


def test_a_failed_install_is_tried_again(environment, monkeypatch):
    venv, requirements, calls = environment

    def failing_pip(command, **kwargs):
        calls.append(command)
        raise subprocess.CalledProcessError(1, command)

    monkeypatch.setattr(dev_commands.subprocess, "run", failing_pip)
    with pytest.raises(subprocess.CalledProcessError):
        dev_commands.ensure_venv(venv, requirements)
    assert dev_commands.needs_install(requirements, venv / ".installed")


class FakeChild:
    """A Popen that never exits by itself: what `stop` does to it is recorded."""

    def __init__(self, command, *, cwd, creationflags):
        self.creationflags, self.signals, self.killed = creationflags, [], False

    def poll(self):
        return -9 if self.killed else None

    def send_signal(self, signum):
        self.signals.append(signum)

    def wait(self, timeout=None):
        if not self.killed:
            raise subprocess.TimeoutExpired("child", timeout)
        return -9

    def kill(self):  # Popen.kill is Popen.terminate on Windows
        self.killed = True


def test_on_windows_children_get_a_group_of_their_own_and_ctrl_break_then_terminate(monkeypatch):
    """The Windows branch, as far as it can be seen here: the flags and signals Python's docs ask for."""
    monkeypatch.setattr(dev_commands, "WINDOWS", True)
    monkeypatch.setattr(dev_commands.subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200, raising=False)
    monkeypatch.setattr(dev_commands.signal, "CTRL_BREAK_EVENT", 1, raising=False)
    monkeypatch.setattr(dev_commands.subprocess, "Popen", FakeChild)
    child = dev_commands.start(["manage.py", "runserver"])
    dev_commands.stop([child], seconds=0)
    assert child.creationflags == 0x200
    assert child.signals == [1]
    assert child.killed


@pytest.mark.parametrize("version", ["2.7", "3.6", "3.11"])
def test_an_older_python_is_told_what_it_needs(version):
    """dev.py itself parses on any Python, so an older one gets a sentence rather than a SyntaxError."""
    found = [*sorted(PYENV.glob(f"{version}.*/bin/python{version}")), Path(f"/usr/bin/python{version}")]
    python = next((path for path in found if path.exists()), None)
    if python is None:
        pytest.skip(f"no Python {version} here to try (looked for {', '.join(map(str, found))})")
    result = subprocess.run([python, SCRIPT, "run"], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert f"needs Python 3.12 or newer (Django 6.1) and this is Python {version}" in result.stderr


# --- a real `run`: runs once, in the SQLite pass (its own SQLite file) ----------------------------------------


@pytest.fixture
def running(tmp_path):
    """(dev.py's process, port, its children and theirs) once the portal answers, on a SQLite file of its own.

    dev.py is the leader of a process group of its own, as a terminal's foreground job is; the group is killed
    afterwards, so a failure leaves nothing running.
    """
    port = free_port()
    environment = server_environment(
        DATABASE_URL=f"sqlite:///{tmp_path / 'dev.sqlite3'}", PORTAL_ADMIN_PASSWORD="dev-py-tests"
    )
    environment.pop("DEBUG", None)
    command = [sys.executable, SCRIPT, "--python", sys.executable, "run", "--port", str(port)]
    log = (tmp_path / "dev.log").open("wb")
    script = subprocess.Popen(
        command, cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        children = serving(script, port, log.name)
        yield script, port, children
    finally:
        with contextlib.suppress(ProcessLookupError):  # the group outlives its leader while a member is left
            os.killpg(script.pid, signal.SIGKILL)
        script.wait()
        log.close()


def serving(script, port, log, seconds=120):
    """The runserver and ops_worker processes (and their autoreloaded children) once the portal answers."""
    deadline = time.monotonic() + seconds
    while True:
        assert script.poll() is None, f"dev.py run exited with {script.returncode}:\n{Path(log).read_text()}"
        assert time.monotonic() < deadline, f"the portal did not answer within {seconds} s:\n{Path(log).read_text()}"
        with contextlib.suppress(OSError):
            if http(port, "/health/live/", timeout=2)[0] == 200:
                break
        time.sleep(0.5)
    children = psutil.Process(script.pid).children(recursive=True)
    commands = [" ".join(child.cmdline()) for child in children]
    assert sum("manage.py runserver" in command for command in commands) >= 1, commands
    assert sum("manage.py ops_worker" in command for command in commands) >= 1, commands
    return children


def assert_all_stopped(script, children, expected_code):
    assert script.wait(timeout=60) == expected_code
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, [" ".join(child.cmdline()) for child in alive]


@pytest.mark.sqlite
@pytest.mark.parametrize("to_group", [False, True], ids=["sigint-to-dev-py-alone", "ctrl-c-to-the-terminal-group"])
def test_ctrl_c_stops_the_server_and_the_task_worker(running, to_group):
    """SIGINT to dev.py alone (it must pass the stop on), or to the whole group, as a terminal's Ctrl+C does."""
    script, port, children = running
    if to_group:
        os.killpg(script.pid, signal.SIGINT)
    else:
        script.send_signal(signal.SIGINT)
    assert_all_stopped(script, children, 130)
    with pytest.raises(ConnectionRefusedError):
        http(port, "/health/live/", timeout=2)


@pytest.mark.sqlite
def test_the_end_of_the_server_stops_the_task_worker(running):
    script, _, children = running
    server = next(child for child in children if child.ppid() == script.pid and "runserver" in child.cmdline())
    server.terminate()
    assert_all_stopped(script, children, 0)
