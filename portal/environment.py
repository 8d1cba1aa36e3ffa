"""Typed readers for the environment variables the settings are built from.

Kept apart from settings.py so the parsing rules (what counts as true, how lists
are split) are written once and can be tested without loading Django.
"""

import ipaddress
import os
import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}
DURATION = r"(\d+)(ms|s|min|h)?"  # PostgreSQL's units for lock_timeout and statement_timeout
DURATION_UNITS = {"ms": 0.001, "s": 1, "min": 60, "h": 3600}
SIZE = r"(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?"  # 536870912, 512MB, 512MiB, 512M, 1.5G
SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
RATE = r"(\d+)\s*/\s*(minute|day)"  # 60/minute
RATE_WINDOWS = ("minute", "day")


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
    if not re.fullmatch(DURATION, value):
        raise ValueError(f"{name}={value!r} is not a PostgreSQL duration such as 500ms, 5s, 30min or 2h")
    return value


def duration_seconds(value):
    """A duration env_duration accepts, in seconds: the client-side deadlines follow the server's timeouts."""
    number, unit = re.fullmatch(DURATION, value).groups()
    return int(number) * DURATION_UNITS[unit or "ms"]  # a bare number is milliseconds, as in PostgreSQL


def env_size(name, default=None):
    """A size in bytes: a number of bytes or one with a unit (512MB, 512MiB, 512M, 1.5G); units are powers of
    1024, as in Docker and systemd. Unset or empty gives `default`; anything else is an error."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    match = re.fullmatch(SIZE, raw.lower())
    if not match:
        raise ValueError(f"{name}={raw!r} is not a size such as 536870912, 512MB or 1.5GB")
    number, unit = match.groups()
    return int(float(number) * SIZE_UNITS[unit])


def env_rates(name, default):
    """Requests a minute and a day, as "60/minute,5000/day": both windows, once each, whole numbers above 0."""
    raw = os.environ.get(name, "").strip() or default
    rates = {}
    for part in raw.lower().split(","):
        match = re.fullmatch(RATE, part.strip())
        if not match or int(match[1]) == 0 or match[2] in rates:
            rates = None
            break
        rates[match[2]] = int(match[1])
    if rates is None or set(rates) != set(RATE_WINDOWS):
        raise ValueError(f"{name}={raw!r} is not a rate limit such as 60/minute,5000/day (each above 0)")
    return {window: rates[window] for window in RATE_WINDOWS}


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


def env_networks(name):
    """Networks, comma-separated: CIDRs (10.0.0.0/8, fd00::/8) or single addresses; anything else is an error."""
    networks = []
    for item in env_list(name):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{name}: {item!r} is not an address or network such as 10.0.0.0/8 or ::1") from None
    return networks


def env_url(name, schemes=("http", "https")):
    """A URL with one of `schemes` and a host ("" when unset); anything else is an error naming the variable."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return ""
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in schemes or not parts.hostname:
        raise ValueError(f"{name}={raw!r} is not a URL such as {schemes[-1]}://host/path")
    return raw


def env_emails(name):
    """Email addresses, comma-separated; one that is not an address is an error naming it."""
    addresses = env_list(name)
    for address in addresses:
        local, at, domain = address.rpartition("@")
        if not at or not local or "." not in domain or re.search(r"[\s,;<>]", address):
            raise ValueError(f"{name}: {address!r} is not an email address such as ops@example.com")
    return addresses


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


def env_listener(name, default):
    """What names the listener of an address: its port ("127.0.0.1:8000" gives "8000"), or a unix socket's
    file name ("unix:/run/portal/web.sock" gives "web.sock")."""
    raw = os.environ.get(name, "").strip() or default
    if raw.startswith("unix:"):
        return Path(raw.removeprefix("unix:")).name or raw
    port = raw.rpartition(":")[2]
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{name}={raw!r} is not an address such as 127.0.0.1:8000 or unix:/run/portal/web.sock")
    return str(int(port))


def env_instance_name(name):
    """A name for this instance in place of its host name ("web-1", a pod's name): 1 to 200 letters, digits,
    ".", "_" or "-" (it is the host part of "host:port"); "" when unset."""
    raw = os.environ.get(name, "").strip()
    if raw and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}", raw):
        raise ValueError(f"{name}={raw!r} is not an instance name: 1 to 200 letters, digits, '.', '_' or '-'")
    return raw


def local_secret(path: Path, nbytes=48):
    """Read a secret kept in an ignored local file, creating it on first use.

    The embedded default (no SECRET_KEY in the environment) still needs a key that
    survives restarts, or every restart would log everybody out.
    """
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(nbytes)
        path.touch(mode=0o600)
        path.write_text(value + "\n", encoding="utf-8")
        return value
