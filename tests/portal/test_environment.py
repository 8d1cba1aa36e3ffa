"""How the settings read the environment."""

import os
import subprocess
import sys

import pytest

from portal.environment import (
    env_bool,
    env_duration,
    env_emails,
    env_instance_name,
    env_list,
    env_listener,
    env_number,
    env_size,
    env_url,
    local_secret,
)
from tests.services import REPO


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("TRUE", True), ("yes", True), ("0", False), ("", False)])
def test_env_bool_words(monkeypatch, raw, expected):
    monkeypatch.setenv("FLAG", raw)
    assert env_bool("FLAG") is expected


def test_env_bool_default_when_unset(monkeypatch):
    monkeypatch.delenv("FLAG", raising=False)
    assert env_bool("FLAG") is False
    assert env_bool("FLAG", default=True) is True


def test_env_bool_rejects_other_words(monkeypatch):
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ValueError, match="FLAG='maybe' is not a boolean"):
        env_bool("FLAG")


def test_env_list_splits_on_commas_and_drops_blanks(monkeypatch):
    monkeypatch.setenv("HOSTS", " a.example , ,b.example,")
    assert env_list("HOSTS") == ["a.example", "b.example"]
    monkeypatch.delenv("HOSTS")
    assert env_list("HOSTS", default=["x"]) == ["x"]


def test_local_secret_is_created_once_and_private(tmp_path):
    path = tmp_path / "state" / "secret"
    first = local_secret(path)
    assert len(first) > 40
    assert local_secret(path) == first
    assert path.stat().st_mode & 0o077 == 0


def test_env_number_parses_or_names_the_variable(monkeypatch):
    monkeypatch.setenv("BUDGET", "0.25")
    assert env_number("BUDGET", 1.0) == 0.25
    monkeypatch.setenv("BUDGET", "")
    assert env_number("BUDGET", 1.0) == 1.0
    monkeypatch.setenv("AGE", "1.5")
    with pytest.raises(ValueError, match=r"AGE='1\.5' is not an integer"):
        env_number("AGE", 60, int)


def test_env_duration_accepts_postgresql_durations_only(monkeypatch):
    monkeypatch.setenv("WAIT", "250ms")
    assert env_duration("WAIT", "5s") == "250ms"
    monkeypatch.delenv("WAIT")
    assert env_duration("WAIT", "5s") == "5s"
    monkeypatch.setenv("WAIT", "5s; DROP TABLE x")
    with pytest.raises(ValueError, match="is not a PostgreSQL duration"):
        env_duration("WAIT", "5s")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("536870912", 536870912),
        ("512MB", 512 * 1024**2),
        ("512 MiB", 512 * 1024**2),
        ("512m", 512 * 1024**2),
        ("1.5GB", int(1.5 * 1024**3)),
        ("64k", 64 * 1024),
        ("100B", 100),
    ],
)
def test_env_size_reads_bytes_and_units_of_1024(monkeypatch, raw, expected):
    monkeypatch.setenv("SIZE", raw)
    assert env_size("SIZE") == expected


def test_env_size_unset_or_empty_is_the_default(monkeypatch):
    monkeypatch.delenv("SIZE", raising=False)
    assert env_size("SIZE") is None
    monkeypatch.setenv("SIZE", " ")
    assert env_size("SIZE", 7) == 7


@pytest.mark.parametrize("raw", ["lots", "-5MB", "5 XB", "1e9"])
def test_env_size_rejects_anything_else(monkeypatch, raw):
    monkeypatch.setenv("SIZE", raw)
    with pytest.raises(ValueError, match="is not a size such as"):
        env_size("SIZE")


def test_env_networks_takes_cidrs_and_addresses(monkeypatch):
    from ipaddress import ip_address

    from portal.environment import env_networks

    monkeypatch.setenv("NETS", "10.0.0.0/8, 192.168.1.7 ,::1")
    networks = env_networks("NETS")
    assert [str(network) for network in networks] == ["10.0.0.0/8", "192.168.1.7/32", "::1/128"]
    assert any(ip_address("10.1.2.3") in network for network in networks)
    monkeypatch.delenv("NETS")
    assert env_networks("NETS") == []


def test_env_networks_names_the_bad_entry(monkeypatch):
    from portal.environment import env_networks

    monkeypatch.setenv("NETS", "10.0.0.0/8,prometheus.internal")
    with pytest.raises(ValueError, match=r"NETS: 'prometheus\.internal' is not an address or network"):
        env_networks("NETS")


@pytest.mark.parametrize("raw", ["hooks.example.com/x", "ftp://example.com/", "https://", "http://host:port/"])
def test_env_url_names_the_variable_of_what_is_not_a_url(monkeypatch, raw):
    monkeypatch.setenv("HOOK", raw)
    with pytest.raises(ValueError, match=r"HOOK=.* is not a URL such as https://host/path"):
        env_url("HOOK")


def test_env_url_gives_a_url_back_and_nothing_when_unset(monkeypatch):
    monkeypatch.setenv("HOOK", " https://hooks.example.com:8443/T0/x ")
    assert env_url("HOOK") == "https://hooks.example.com:8443/T0/x"
    monkeypatch.delenv("HOOK")
    assert env_url("HOOK") == ""


def test_env_emails_names_the_address_that_is_not_one(monkeypatch):
    monkeypatch.setenv("TO", "ops@example.com, oncall@example.org")
    assert env_emails("TO") == ["ops@example.com", "oncall@example.org"]
    monkeypatch.setenv("TO", "ops@example.com,nobody")
    with pytest.raises(ValueError, match="TO: 'nobody' is not an email address"):
        env_emails("TO")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, "8000"), ("0.0.0.0:9000", "9000"), ("[::1]:8443", "8443"), ("unix:/run/portal/web.sock", "web.sock")],
)
def test_env_listener_names_a_port_or_a_unix_sockets_file(monkeypatch, raw, expected):
    if raw is None:
        monkeypatch.delenv("BIND", raising=False)
    else:
        monkeypatch.setenv("BIND", raw)
    assert env_listener("BIND", "127.0.0.1:8000") == expected


@pytest.mark.parametrize("raw", ["localhost", "host:http", "host:70000"])
def test_env_listener_rejects_an_address_without_a_port(monkeypatch, raw):
    monkeypatch.setenv("BIND", raw)
    with pytest.raises(ValueError, match=r"is not an address such as 127\.0\.0\.1:8000"):
        env_listener("BIND", "127.0.0.1:8000")


def test_env_instance_name(monkeypatch):
    monkeypatch.delenv("NAME", raising=False)
    assert env_instance_name("NAME") == ""
    monkeypatch.setenv("NAME", " web-7f9c.prod_1 ")
    assert env_instance_name("NAME") == "web-7f9c.prod_1"
    for bad in ("web:8000", "-web", "a b", "x" * 201):
        monkeypatch.setenv("NAME", bad)
        with pytest.raises(ValueError, match="is not an instance name"):
            env_instance_name("NAME")


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"DATABASE_CONN_MAX_AGE": "soon"}, "DATABASE_CONN_MAX_AGE='soon' is not an integer"),
        ({"DATABASE_TRANSACTION_POOLING": "1"}, "DATABASE_TRANSACTION_POOLING needs DATABASE_DIRECT_URL"),
    ],
)
def test_a_command_names_a_bad_variable_in_one_line(variables, message):
    environment = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    environment |= {"DATABASE_URL": "postgres://portal@127.0.0.1:1/portal", **variables}
    command = [sys.executable, "manage.py", "check"]
    result = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith(f"Configuration error: {message}")
    assert result.stderr.count("\n") == 1  # no traceback
