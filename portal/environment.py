"""Typed readers for the environment variables the settings are built from.

Kept apart from settings.py so the parsing rules (what counts as true, how lists
are split) are written once and can be tested without loading Django.
"""

import os
import re
import secrets
from pathlib import Path

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def env_bool(name, default=False):
    """`1/true/yes/on` is true, `0/false/no/off` or empty is false; anything else is an error."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"{name}={raw!r} is not a boolean; use 1/true/yes/on or 0/false/no/off")


def env_number(name, default, kind=float):
    """A number (`kind` float or int); anything else is an error naming the variable."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return kind(raw.strip())
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a{'n integer' if kind is int else ' number'}") from None


def env_duration(name, default):
    """A PostgreSQL duration (500ms, 5s, 30min, 2h), checked here rather than failing at the first SET."""
    value = os.environ.get(name, "").strip() or default
    if not re.fullmatch(r"\d+(ms|s|min|h)?", value):
        raise ValueError(f"{name}={value!r} is not a PostgreSQL duration such as 500ms, 5s, 30min or 2h")
    return value


def env_choice(name, default, choices):
    """One of `choices` (case-insensitive, given back in upper case); anything else is an error listing them."""
    value = (os.environ.get(name) or default).strip().upper()
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(choices)}")
    return value


def env_list(name, default=()):
    """A comma-separated list, blanks dropped."""
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_port(name):
    """The port of an address ("host:port", "[::1]:port"), as gunicorn's SERVER_PORT gives it; "" when unset.

    A unix socket has no port of its own ("unix:/run/portal.sock" gives ""); anything else is an error."""
    raw = os.environ.get(name, "").strip()
    if not raw or raw.startswith("unix:"):
        return ""
    port = raw.rpartition(":")[2]
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{name}={raw!r} is not an address such as 127.0.0.1:8001")
    return str(int(port))


def local_secret(path: Path, nbytes=48):
    """Read a secret kept in an ignored local file, creating it on first use.

    The embedded default (no SECRET_KEY in the environment) still needs a key that
    survives restarts, or every restart would log everybody out.
    """
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(nbytes)
        path.touch(mode=0o600)
        path.write_text(value + "\n")
        return value
