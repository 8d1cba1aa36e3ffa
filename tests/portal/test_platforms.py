"""The portal runs on Windows and macOS too: only its POSIX serving modules use what POSIX alone has.

Read from the project's own modules' syntax trees rather than by blocking imports: third-party libraries
(psutil, gunicorn's dependencies) choose their platform's module themselves, so a blocked `resource` would only
test psutil's Linux backend. The rule:

- a POSIX-only module (fcntl, resource, pwd, ...) is imported only by a POSIX-marked module, one whose docstring's
  first line starts with "POSIX serving:";
- a POSIX-only name of os or signal (os.fork, signal.SIGALRM, ...) is used, elsewhere, only inside the body of an
  `if` whose condition tests `hasattr(os_or_signal, "<one of its POSIX-only names>")` (getattr with a default,
  never an attribute, needs no guard), and never imported by name;
- the development path (runserver, the task worker, the checks, the pages) never imports a POSIX-marked module.
"""

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SYSTEM_TESTS = REPO / "tests" / "system"
MARK = "POSIX serving:"
POSIX_MODULES = {"fcntl", "resource", "pwd", "grp", "termios", "tty", "pty", "posix", "syslog"}
POSIX_NAMES = {
    "os": {
        "fork", "forkpty", "openpty", "register_at_fork", "getuid", "geteuid", "getgid", "getegid", "getgroups",
        "setuid", "setgid", "seteuid", "setegid", "killpg", "getpgid", "setpgid", "getpgrp", "setsid", "getsid",
        "getloadavg", "uname", "sysconf", "wait3", "wait4", "nice", "chown", "lchown", "fchown", "mkfifo",
    },
    "signal": {
        "SIGKILL", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGQUIT", "SIGCHLD", "SIGTTIN", "SIGTTOU",
        "SIGWINCH", "SIGPIPE", "SIGCONT", "SIGSTOP", "SIGTSTP", "setitimer", "getitimer", "ITIMER_REAL",
        "ITIMER_VIRTUAL", "ITIMER_PROF", "alarm", "pause", "pthread_kill", "pthread_sigmask", "sigwait",
        "sigwaitinfo", "sigtimedwait", "siginterrupt", "sigpending",
    },
}  # fmt: skip


def project_modules():
    """Every .py file of the project's own code, migrations included."""
    files = [REPO / "manage.py"]
    for package in ("portal", "opsadmin", "stocks"):
        files += sorted((REPO / package).rglob("*.py"))
    return files


def posix_marked(tree):
    return (ast.get_docstring(tree) or "").startswith(MARK)


def violations(source, filename="<snippet>"):
    """ "file:line: what" for each POSIX-only use the rule forbids in this module's source."""
    tree = ast.parse(source, filename)
    if posix_marked(tree):
        return []
    found = []
    aliases = {}  # local name -> os or signal
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for name in node.names:
                top = name.name.partition(".")[0]
                if top in POSIX_MODULES:
                    found.append((node.lineno, f"imports {name.name}"))
                if name.name in POSIX_NAMES:
                    aliases[name.asname or name.name] = name.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            top = node.module.partition(".")[0]
            if top in POSIX_MODULES:
                found.append((node.lineno, f"imports from {node.module}"))
            for name in node.names:
                if name.name in POSIX_NAMES.get(node.module, ()):
                    found.append((node.lineno, f"imports {node.module}.{name.name}"))
    found += _unguarded(tree, aliases, guards=frozenset())
    return [f"{filename}:{line}: {what}" for line, what in sorted(found)]


def _unguarded(node, aliases, guards):
    """(line, what) of each POSIX-only attribute under `node` not guarded by one of `guards` (module names)."""
    found = []
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
        module = aliases[node.value.id]
        if node.attr in POSIX_NAMES[module] and module not in guards:
            found.append((node.lineno, f"uses {module}.{node.attr} unguarded"))
    if isinstance(node, ast.If):
        found += _unguarded(node.test, aliases, guards)
        body_guards = guards | _hasattr_guards(node.test, aliases)
        for child in node.body:
            found += _unguarded(child, aliases, body_guards)
        for child in node.orelse:
            found += _unguarded(child, aliases, guards)
        return found
    for child in ast.iter_child_nodes(node):
        found += _unguarded(child, aliases, guards)
    return found


def _hasattr_guards(test, aliases):
    """The modules a condition proves POSIX: `hasattr(m, "<POSIX-only name of m>")`, alone or among `and`s."""
    tests = test.values if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And) else [test]
    proven = set()
    for each in tests:
        match each:
            case ast.Call(func=ast.Name(id="hasattr"), args=[ast.Name(id=local), ast.Constant(value=str(name))]):
                if local in aliases and name in POSIX_NAMES[aliases[local]]:
                    proven.add(aliases[local])
    return proven


def test_the_projects_own_modules_use_posix_only_modules_and_calls_in_posix_serving_modules_alone():
    found = []
    for path in project_modules():
        found += violations(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))
    assert found == [], "POSIX-only outside a module marked '" + MARK + "':\n" + "\n".join(found)


def test_the_serving_modules_are_marked():
    marked = {str(path.relative_to(REPO)) for path in project_modules() if posix_marked(ast.parse(path.read_bytes()))}
    assert {"portal/gunicorn.conf.py", "portal/shutdown.py", "portal/metrics_files.py"} <= marked


def test_a_test_module_using_what_posix_alone_has_is_marked_posix():
    """Such a module skips on Windows (tests/conftest.py), so the SQLite pass runs there; tests/system skips whole."""
    unmarked = []
    for path in sorted((REPO / "tests").rglob("test_*.py")):
        source = path.read_text(encoding="utf-8")
        if SYSTEM_TESTS not in path.parents and violations(source) and not marked_posix(ast.parse(source)):
            unmarked.append(str(path.relative_to(REPO)))
    assert unmarked == [], "use what POSIX alone has, without pytestmark = pytest.mark.posix: " + ", ".join(unmarked)


def marked_posix(tree):
    """Whether the module's `pytestmark` includes pytest.mark.posix."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(target, "id", "") == "pytestmark" for target in node.targets):
            return any(isinstance(mark, ast.Attribute) and mark.attr == "posix" for mark in ast.walk(node.value))
    return False


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import fcntl", ["<snippet>:1: imports fcntl"]),
        ("import os\nfrom resource import getrlimit", ["<snippet>:2: imports from resource"]),
        ("from signal import SIGKILL, SIGTERM", ["<snippet>:1: imports signal.SIGKILL"]),
        ("import os\nos.fork()", ["<snippet>:2: uses os.fork unguarded"]),
        ("import signal as s\ns.signal(s.SIGHUP, print)", ["<snippet>:2: uses signal.SIGHUP unguarded"]),
        (
            'import signal\nif hasattr(signal, "SIGALRM"):\n    pass\nelse:\n    signal.setitimer(0, 1)',
            ["<snippet>:5: uses signal.setitimer unguarded"],
        ),
        (
            'import os, signal\nif hasattr(os, "fork"):\n    signal.pause()',
            ["<snippet>:3: uses signal.pause unguarded"],
        ),
        (
            'import signal\nif hasattr(signal, "SIGTERM"):\n    signal.alarm(1)',
            ["<snippet>:3: uses signal.alarm unguarded"],
        ),
        ('import signal\nif hasattr(signal, "SIGALRM"):\n    signal.setitimer(signal.ITIMER_REAL, 1)', []),
        ('import os\nif os.name == "posix" and hasattr(os, "register_at_fork"):\n    os.register_at_fork()', []),
        ('import signal\nquit = getattr(signal, "SIGQUIT", None)', []),
        ('"""POSIX serving: gunicorn."""\nimport fcntl, os\nos.fork()', []),
        ('"""Not POSIX serving: gunicorn."""\nimport fcntl', ["<snippet>:2: imports fcntl"]),
    ],
)
def test_the_rule_finds_each_kind_of_use_and_accepts_a_guard(source, expected):
    assert violations(source) == expected


# What the development path loads: the settings, the URLconf and the admin, the checks, runserver's WSGI
# application and the task worker's command, then the pages (a probe and the metrics included) through a client.
DEVELOPMENT_PATH = textwrap.dedent(
    """
    import json, sys
    import django
    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.core.management.commands import runserver
    from django.core.servers.basehttp import get_internal_wsgi_application
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import get_resolver
    import opsadmin.management.commands.ops_worker

    call_command("migrate", verbosity=0)
    call_command("check")
    get_resolver().url_patterns
    get_internal_wsgi_application()
    setup_test_environment()
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("dev", "dev@example.com", "dev"))
    answers = {path: client.get(path).status_code for path in sys.argv[1:]}
    print(json.dumps({"answers": answers, "modules": sorted(sys.modules)}))
    """
)
PAGES = ["/admin/", "/admin/ops/memory/", "/health/ready/", "/metrics"]


@pytest.mark.sqlite
def test_the_development_path_imports_no_posix_serving_module(tmp_path):
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PROMETHEUS_", "PORTAL_", "REDIS_"))}
    environment |= {"DJANGO_SETTINGS_MODULE": "portal.settings", "DEBUG": "1"}
    environment["DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite3'}"  # the embedded default, in a file of its own
    result = subprocess.run(
        [sys.executable, "-c", DEVELOPMENT_PATH, *PAGES],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["answers"] == dict.fromkeys(PAGES, 200)
    serving = {
        ".".join(path.relative_to(REPO).with_suffix("").parts)
        for path in project_modules()
        if posix_marked(ast.parse(path.read_bytes()))
    }
    assert "portal.shutdown" in serving
    assert sorted(serving & set(loaded["modules"])) == []
