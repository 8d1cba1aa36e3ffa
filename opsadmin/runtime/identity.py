"""Which process this is: its host, the instance it serves as ("host:port"), its pid, and the code's version.

An instance is named by configuration alone: PORTAL_INSTANCE_ID (else the host name) and the
listener of PORTAL_BIND (its port, or a unix socket's file name); a task worker is
"host:worker". Containers all binding :8000 on hosts named alike need PORTAL_INSTANCE_ID.
The version shown is PORTAL_VERSION from the environment, else the checked-out git commit,
else "dev".
"""

import functools
import getpass
import os
import socket
import string
from datetime import UTC, datetime
from pathlib import Path

import psutil
from django.conf import settings

HOST = socket.gethostname()
SHORT_COMMIT = 7

_instance_id = None  # "host:port" of this process, known from its first heartbeat


def instance_host():
    """The host part of this process's instance: PORTAL_INSTANCE_ID, else the host name."""
    return settings.PORTAL_INSTANCE_ID or HOST


def configured_instance():
    """(host, port) of the instance a web process serves as, from its configuration, never from a request."""
    return instance_host(), settings.PORTAL_INSTANCE_LISTENER


def this_instance_id():
    """ "host:port" of this process once its first heartbeat named it, else None."""
    return _instance_id


def name_instance(instance_id):
    global _instance_id
    _instance_id = instance_id


def this_process():
    """(instance id, pid) of this process, or None before its first heartbeat: how the command channel addresses it."""
    return (_instance_id, os.getpid()) if _instance_id is not None else None


def process_label():
    """This process in the audit log: "web-1:8000 pid 4242", or "host pid 4242" for a command."""
    return f"{_instance_id or HOST} pid {os.getpid()}"


def command_line_user():
    """Who runs this command, "cli:deploy@ops-1": the OS user (its uid when it has no name) at this host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name in the environment and no passwd entry (a bare container uid)
        user = psutil.Process().username()  # the uid's number where it has no name
        user = f"uid {user}" if user.isdigit() else user
    return f"cli:{user}@{HOST}"


def parse_process_label(label):
    """(instance id, pid) of a `process_label` naming an instance ("web-1:8000 pid 4242"); None for a command's
    ("host pid 4242": no heartbeat watches it) or anything else."""
    instance, separator, pid = (label or "").rpartition(" pid ")
    if not separator or ":" not in instance or not pid.isdigit():
        return None
    return instance, int(pid)


def gunicorn_worker():
    """True when this process's parent is a gunicorn arbiter (its command line names gunicorn): one that starts
    a fresh worker when this one exits."""
    try:
        parent = psutil.Process().parent()
        return parent is not None and any("gunicorn" in part for part in parent.cmdline())
    except psutil.Error:
        return False


def process_facts(now):
    """(start time, resident memory) of this process; psutil reads /proc, no subprocess."""
    try:
        process = psutil.Process()
        return datetime.fromtimestamp(process.create_time(), tz=UTC), process.memory_info().rss
    except psutil.Error:
        return now, None


@functools.cache
def app_version():
    """The running code's version, read once per process: it can't change under a running process."""
    return os.environ.get("PORTAL_VERSION", "").strip() or git_commit(Path(settings.BASE_DIR)) or "dev"


def git_commit(repo):
    """The short commit checked out in `repo`, read from .git files (no subprocess), or None."""
    try:
        git_dir = repo / ".git"
        if git_dir.is_file():  # a worktree or submodule: ".git" says "gitdir: <path>"
            git_dir = repo / git_dir.read_text(encoding="utf-8").removeprefix("gitdir:").strip()
        head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
        if not head.startswith("ref:"):
            return _short(head)  # detached HEAD holds the commit itself
        ref = head.removeprefix("ref:").strip()
        common_dir = git_dir
        if (git_dir / "commondir").is_file():  # a worktree keeps its branches in the main repository
            common_dir = git_dir / (git_dir / "commondir").read_text(encoding="utf-8").strip()
        for base in dict.fromkeys([git_dir, common_dir]):
            if (base / ref).is_file():
                return _short((base / ref).read_text(encoding="utf-8").strip())
        for line in (common_dir / "packed-refs").read_text(encoding="utf-8").splitlines():
            commit, _, name = line.partition(" ")
            if name == ref:
                return _short(commit)
    except (OSError, UnicodeDecodeError):
        return None
    return None


def _short(commit):
    if len(commit) >= SHORT_COMMIT and all(c in string.hexdigits for c in commit):
        return commit[:SHORT_COMMIT]
    return None


def reset():
    """Forget the instance, as a new process would (after fork, and in tests)."""
    name_instance(None)


if hasattr(os, "register_at_fork"):
    # gunicorn --preload forks workers from a master that may have beaten already.
    os.register_at_fork(after_in_child=reset)
