"""`ensure_admin`, run by `make run`: one admin account, a password that is shown only when ours."""

from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.db import connections
from django.test import RequestFactory

from portal.accounts.local_admin import password_file

pytestmark = pytest.mark.django_db


def log_in(**credentials):
    """The user these credentials log in, as the login page asks (the lockout's backend needs its request)."""
    return authenticate(RequestFactory().post("/admin/login/"), **credentials)


@pytest.fixture(autouse=True)
def local_state(settings, tmp_path, monkeypatch):
    settings.LOCAL_STATE_DIR = tmp_path
    settings.BASE_DIR = tmp_path.parent
    monkeypatch.delenv("PORTAL_ADMIN_PASSWORD", raising=False)
    return tmp_path


def ensure_admin():
    out = StringIO()
    call_command("ensure_admin", stdout=out)
    return out.getvalue()


def test_generates_a_password_once_and_prints_it_every_run(local_state):
    first = ensure_admin()
    password = password_file().read_text().strip()
    assert "created" in first
    assert password in first
    assert password in ensure_admin()
    assert log_in(username="admin", password=password).is_superuser


def test_password_from_the_environment_wins(monkeypatch):
    ensure_admin()
    monkeypatch.setenv("PORTAL_ADMIN_PASSWORD", "correct horse battery")
    output = ensure_admin()
    assert "password from $PORTAL_ADMIN_PASSWORD" in output
    assert "correct horse battery" not in output  # a secret from the environment is not echoed
    assert log_in(username="admin", password="correct horse battery")


def test_a_password_changed_in_the_admin_is_kept_and_not_shown(local_state):
    ensure_admin()
    admin = get_user_model().objects.get(username="admin")
    admin.set_password("chosen by the operator")
    admin.save()
    output = ensure_admin()
    assert "not shown" in output
    assert password_file().read_text().strip() not in output
    assert log_in(username="admin", password="chosen by the operator")


def test_each_database_keeps_its_own_password_file(local_state, monkeypatch):
    """`make run` on SQLite, then on PostgreSQL, then on SQLite again: neither admin's password is lost."""
    database = connections["default"].settings_dict
    monkeypatch.setitem(database, "NAME", local_state / "db.sqlite3")  # the embedded default
    assert password_file() == local_state / "admin-password"
    monkeypatch.setitem(database, "NAME", "stockscanner")
    monkeypatch.setitem(database, "HOST", "db.internal")
    monkeypatch.setitem(database, "PORT", "5432")
    vendor = connections["default"].vendor
    assert password_file() == local_state / f"admin-password.{vendor}-db.internal-5432-stockscanner"
    monkeypatch.setitem(database, "NAME", "../../etc/passwd")  # never a path out of .local
    assert password_file().parent == local_state
