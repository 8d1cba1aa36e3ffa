"""deploy/: what can be checked here without Docker or a running systemd.

- The container entrypoint is POSIX sh, and each role `exec`s its server (the process the runtime started *is*
  the server, so it gets SIGTERM itself): shims on PATH record the program, its arguments, its directory and
  its pid. `migrate` runs for real, on SQLite in a temporary directory.
- The systemd units start files that exist in the checkout, stop with SIGTERM to the main process only, and give
  it longer than the shutdown takes: the drain plus gunicorn's graceful timeout (web), the task stop time
  (worker). Those defaults are read from the code, never written here; until the shutdown work reads a
  variable, its default is the one docs/deployment.md states (test_deployment_docs.py keeps the two equal once
  both exist). `systemd-analyze verify` checks the units when it is installed.
- The Dockerfile runs the entrypoint as a non-root user and exposes the ports it binds; the Kubernetes and
  HAProxy examples in docs/deployment.md keep to the same defaults.
"""

import ast
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.portal.environment_reads import (
    REPO,
    constant_value,
    doc_text,
    documented_defaults,
    variables_the_code_reads,
)
from tests.services import free_port

DEPLOY = REPO / "deploy"
ENTRYPOINT = DEPLOY / "container" / "entrypoint.sh"
DOCKERFILE = DEPLOY / "container" / "Dockerfile"
WEB_UNIT = DEPLOY / "systemd" / "portal-web.service"
WORKER_UNIT = DEPLOY / "systemd" / "portal-worker.service"
ENV_EXAMPLE = DEPLOY / "systemd" / "portal.env.example"

# Records what it was started as: its pid ($$: the entrypoint's own when it was exec'd), directory, name, arguments.
SHIM = """#!/bin/sh
{
  echo "pid=$$"
  echo "cwd=$(pwd)"
  echo "program=$(basename "$0")"
  echo "bind=${PORTAL_BIND-unset}"
  for argument in "$@"; do echo "arg=$argument"; done
} > "$SHIM_RECORD"
"""


# --- Defaults, from the code -------------------------------------------------------------------------------


def shutdown_default(name):
    """The default of one of the shutdown variables: the code's literal, else (not read yet) the doc's."""
    reads = variables_the_code_reads()
    if name in reads.defaults:
        (value,) = reads.defaults[name]
        return float(value)
    assert name not in reads.names, f"{name} is read without a literal default this test can find"
    if name == "PORTAL_GRACEFUL_TIMEOUT":  # before it was a variable: gunicorn's setting, a literal
        return float(gunicorn_setting("graceful_timeout"))
    return float(documented_defaults(doc_text())[name])


def gunicorn_setting(name):
    """A setting portal/gunicorn.conf.py assigns a literal to (`graceful_timeout = 30`)."""
    tree = ast.parse((REPO / "portal" / "gunicorn.conf.py").read_text())
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and any(getattr(t, "id", None) == name for t in statement.targets):
            value = constant_value(statement.value)
            assert value is not None, f"gunicorn.conf.py's {name} is not a literal"
            return value
    raise AssertionError(f"gunicorn.conf.py sets no {name}")


def web_stop_seconds():
    """How long the web server's graceful shutdown may take: the drain, then in-flight requests."""
    return shutdown_default("PORTAL_SHUTDOWN_DRAIN_SECONDS") + shutdown_default("PORTAL_GRACEFUL_TIMEOUT")


# --- The entrypoint ----------------------------------------------------------------------------------------


@pytest.fixture
def shims(tmp_path):
    """A PATH whose gunicorn and python record how they were started; returns (environment, read the record)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program in ("gunicorn", "python"):
        (bin_dir / program).write_text(SHIM)
        (bin_dir / program).chmod(0o755)
    record = tmp_path / "record"
    environment = {"PATH": f"{bin_dir}:/usr/bin:/bin", "SHIM_RECORD": str(record), "HOME": str(tmp_path)}

    def started():
        lines = record.read_text().splitlines()
        fields = dict(line.split("=", 1) for line in lines if not line.startswith("arg="))
        return fields, [line.removeprefix("arg=") for line in lines if line.startswith("arg=")]

    return environment, started


def run_entrypoint(environment, *args):
    """The entrypoint as a container runs it (its own process, by its shebang); returns (its pid, output)."""
    process = subprocess.Popen(
        [ENTRYPOINT, *args], env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    return process.pid, output


def test_the_entrypoint_is_posix_sh_and_executable():
    assert ENTRYPOINT.read_text().startswith("#!/bin/sh\n")
    assert os.access(ENTRYPOINT, os.X_OK), "the Dockerfile's ENTRYPOINT runs it directly: chmod +x"
    for shell in ("sh", "dash", "bash"):  # dash is Debian's sh; bash --posix stands in where it is missing
        if path := shutil.which(shell):
            done = subprocess.run([path, *(["--posix"] if shell == "bash" else []), "-n", ENTRYPOINT], check=False)
            assert done.returncode == 0, f"{shell} -n {ENTRYPOINT}"


def test_web_execs_gunicorn_with_the_portals_configuration_on_all_addresses(shims):
    environment, started = shims
    pid, _ = run_entrypoint(environment, "web")
    fields, args = started()
    assert fields["program"] == "gunicorn"
    assert int(fields["pid"]) == pid, "gunicorn must replace the shell (exec), or SIGTERM never reaches it"
    assert args == ["-c", "portal/gunicorn.conf.py", "portal.wsgi"]
    assert Path(fields["cwd"]) == REPO
    assert (REPO / args[1]).is_file()
    assert (REPO / "portal" / "wsgi.py").is_file()
    assert fields["bind"] == "0.0.0.0:8000"  # reachable from outside the container; probes then on :8001


def test_web_is_the_default_keeps_a_given_bind_and_passes_gunicorn_options(shims):
    environment, started = shims
    run_entrypoint({**environment, "PORTAL_BIND": "0.0.0.0:9000"}, "web", "--log-level", "debug")
    fields, args = started()
    assert fields["bind"] == "0.0.0.0:9000"
    assert args == ["-c", "portal/gunicorn.conf.py", "--log-level", "debug", "portal.wsgi"]
    run_entrypoint(environment)
    assert started()[0]["program"] == "gunicorn"


@pytest.mark.parametrize(
    ("role", "extra", "expected"),
    [
        ("worker", ["--max-tasks", "1"], ["manage.py", "ops_worker", "--max-tasks", "1"]),
        ("migrate", [], ["manage.py", "migrate", "--no-input"]),
    ],
)
def test_worker_and_migrate_exec_manage_py(shims, role, extra, expected):
    environment, started = shims
    pid, _ = run_entrypoint(environment, role, *extra)
    fields, args = started()
    assert (fields["program"], int(fields["pid"]), args) == ("python", pid, expected)
    assert (Path(fields["cwd"]) / "manage.py").is_file()


def test_anything_else_is_run_as_given_in_place_of_the_shell(tmp_path):
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    pid, output = run_entrypoint(environment, "sh", "-c", 'echo "$$ $0"', "given")
    assert output.split() == [str(pid), "given"]


def test_migrate_migrates_a_database(tmp_path):
    """For real: the migrations on SQLite in a temporary directory, with no SECRET_KEY (migrate signs nothing)."""
    environment = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
    }
    _, output = run_entrypoint(environment, "migrate")
    assert "Applying stocks.0003_add_performance_indexes... OK" in output
    assert (tmp_path / "db.sqlite3").is_file()


# --- The systemd units -------------------------------------------------------------------------------------


def unit(path):
    """{section: {key: value}} of a unit file (each key once in ours; comments and blank lines skipped)."""
    sections, current = {}, None
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        assert key not in current, f"{path.name}: {key} twice"
        current[key] = value
    return sections


def seconds(value):
    """A systemd time span this test writes: "50", "50s" or "1min 30s"."""
    units = {"": 1, "s": 1, "min": 60}
    return sum(int(number) * units[unit] for number, unit in re.findall(r"(\d+)\s*(min|s|)", value))


def command_in_checkout(service):
    """ExecStart's arguments after the program, which is the checkout's own .venv's."""
    program, *args = shlex.split(service["ExecStart"])
    assert Path(program).parent == Path(service["WorkingDirectory"]) / ".venv" / "bin", program
    return Path(program).name, args


def test_the_web_unit_starts_gunicorn_with_files_of_the_checkout():
    service = unit(WEB_UNIT)["Service"]
    program, args = command_in_checkout(service)
    assert program == "gunicorn"
    assert args == ["-c", "portal/gunicorn.conf.py", "portal.wsgi"]
    assert (REPO / args[1]).is_file()
    assert (REPO / (args[2].replace(".", "/") + ".py")).is_file()


def test_the_worker_unit_starts_ops_worker_with_files_of_the_checkout():
    service = unit(WORKER_UNIT)["Service"]
    program, args = command_in_checkout(service)
    assert program == "python"
    assert args == ["manage.py", "ops_worker"]
    assert (REPO / "manage.py").is_file()
    assert list(REPO.glob("*/management/commands/ops_worker.py")), "no ops_worker command"


@pytest.mark.parametrize("path", [WEB_UNIT, WORKER_UNIT], ids=lambda path: path.name)
def test_a_unit_stops_its_main_process_with_sigterm_as_a_dedicated_user(path):
    service = unit(path)["Service"]
    assert service["KillSignal"] == "SIGTERM"
    # Not control-group: that signals gunicorn's workers together with the master, which skips the drain.
    assert service["KillMode"] == "mixed"
    assert service["User"] not in ("", "root", "0")
    assert service["EnvironmentFile"].startswith("/etc/")
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["Restart"] in ("on-failure", "always")


def test_the_web_unit_waits_longer_than_drain_plus_graceful_timeout():
    timeout = seconds(unit(WEB_UNIT)["Service"]["TimeoutStopSec"])
    assert timeout > web_stop_seconds(), (timeout, web_stop_seconds())


def test_the_worker_unit_waits_longer_than_a_task_may_take_to_stop():
    timeout = seconds(unit(WORKER_UNIT)["Service"]["TimeoutStopSec"])
    assert timeout > shutdown_default("PORTAL_TASK_STOP_SECONDS")


def test_the_metrics_dir_of_the_example_environment_is_the_web_units_runtime_directory():
    service = unit(WEB_UNIT)["Service"]
    example = dict(
        line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines() if line and not line.startswith("#")
    )
    runtime = Path("/run") / service["RuntimeDirectory"]
    assert Path(example["PORTAL_METRICS_DIR"]).parent == runtime
    assert service["EnvironmentFile"] == unit(WORKER_UNIT)["Service"]["EnvironmentFile"]


def test_systemd_analyze_verifies_the_units(tmp_path):
    """`systemd-analyze verify`, with the checkout's path pointing at programs that exist here."""
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze not installed")
    checkout = unit(WEB_UNIT)["Service"]["WorkingDirectory"]
    venv = tmp_path / "checkout" / ".venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").symlink_to(sys.executable)
    (venv / "gunicorn").symlink_to(Path(sys.executable).parent / "gunicorn")
    for path in (WEB_UNIT, WORKER_UNIT):
        (tmp_path / path.name).write_text(path.read_text().replace(checkout, str(tmp_path / "checkout")))
    done = subprocess.run(
        [analyze, "verify", WEB_UNIT.name, WORKER_UNIT.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert not done.stderr.strip(), done.stderr  # warnings too


# --- The Dockerfile and the documented examples ------------------------------------------------------------


def dockerfile():
    """[(instruction, arguments)], continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [tuple(line.split(None, 1)) for line in lines]


def test_the_dockerfile_runs_the_entrypoint_as_a_non_root_user_with_the_ports_it_binds():
    instructions = dockerfile()
    values = {instruction: arguments for instruction, arguments in instructions}
    assert values["FROM"].startswith("python:3.13-slim")
    workdir = Path(values["WORKDIR"])
    (entrypoint,) = yaml.safe_load(values["ENTRYPOINT"])  # the exec form: a JSON list
    assert (REPO / Path(entrypoint).relative_to(workdir)) == ENTRYPOINT
    assert values["USER"] not in ("root", "0")
    assert values["STOPSIGNAL"] == "SIGTERM"
    assert set(values["EXPOSE"].split()) == {"8000", "8001"}  # PORTAL_BIND in the entrypoint, and the next port
    assert "0.0.0.0:8000" in ENTRYPOINT.read_text()
    runs = " ".join(arguments for instruction, arguments in instructions if instruction == "RUN")
    assert "pip install -r requirements.txt" in runs
    assert "manage.py collectstatic --no-input" in runs
    assert not any(instruction == "ENV" and "SECRET_KEY" in arguments for instruction, arguments in instructions), (
        "the build's throwaway key must not stay in the image"
    )


def doc_blocks(language):
    return re.findall(rf"^```{language}\n(.*?)^```", doc_text(), re.S | re.M)


def test_the_kubernetes_example_probes_the_probe_port_and_outlasts_the_shutdown():
    (deployment,) = [yaml.safe_load(block) for block in doc_blocks("yaml") if "kind: Deployment" in block]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > web_stop_seconds()
    (container,) = pod["containers"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports["probes"] == ports["http"] + 1  # PORTAL_PROBE_BIND's default: the next port
    for probe, path in (("livenessProbe", "/health/live/"), ("readinessProbe", "/health/ready/")):
        assert container[probe]["httpGet"] == {"path": path, "port": "probes"}
        assert container[probe]["timeoutSeconds"] >= 1  # readiness answers within 1 s


def test_the_haproxy_example_marks_an_instance_down_within_the_drain():
    (config,) = doc_blocks("haproxy")
    assert "option httpchk GET /health/ready/" in config
    assert re.search(r"server \S+ \S+:8000 check port 8001", config)
    inter, fall = map(int, re.search(r"default-server inter (\d+)s fall (\d+)", config).groups())
    check_timeout = int(re.search(r"timeout check (\d+)s", config).group(1))
    assert inter * fall + check_timeout < shutdown_default("PORTAL_SHUTDOWN_DRAIN_SECONDS")


def test_sigterm_reaches_gunicorn_started_by_the_entrypoint(tmp_path):
    """The real server, started by the entrypoint on free ports with SQLite: it is the entrypoint's process, and it
    stops on SIGTERM within the graceful shutdown's time (its drain shortened to a second)."""
    port = free_port()
    environment = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "SECRET_KEY": "deploy-test-" + "k" * 50,
        "PORTAL_BIND": f"127.0.0.1:{port}",
        "PORTAL_PROBE_BIND": f"127.0.0.1:{free_port()}",
        "WEB_CONCURRENCY": "1",
        "PORTAL_WARM_UP_PATHS": "",
        "PORTAL_SHUTDOWN_DRAIN_SECONDS": "1",
    }
    log = tmp_path / "gunicorn.log"
    with log.open("w") as output:
        server = subprocess.Popen([ENTRYPOINT, "web"], env=environment, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "Booting worker" not in log.read_text() and time.monotonic() < deadline:
            assert server.poll() is None, log.read_text()
            time.sleep(0.2)
        command_line = Path(f"/proc/{server.pid}/cmdline").read_bytes().split(b"\0")
        assert any(part.endswith(b"gunicorn") for part in command_line), command_line
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=web_stop_seconds() + 5) == 0, log.read_text()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
