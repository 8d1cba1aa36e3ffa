"""The `admin` account that `make run` guarantees on a local install."""

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections

USERNAME = "admin"
PASSWORD_ENV = "PORTAL_ADMIN_PASSWORD"


def password_file():
    """Where the generated password of this database's admin is kept: one file per database.

    `make run` may switch between the embedded SQLite file (".local/admin-password") and a
    PostgreSQL database (".local/admin-password.postgresql-localhost-5432-stockscanner"):
    each keeps the admin of its own database.
    """
    database = connections["default"].settings_dict
    if Path(str(database["NAME"])) == settings.LOCAL_STATE_DIR / "db.sqlite3":
        return settings.LOCAL_STATE_DIR / "admin-password"
    where = [connections["default"].vendor, database.get("HOST") or "local", database.get("PORT"), database["NAME"]]
    name = "-".join(str(part) for part in where if part)
    return settings.LOCAL_STATE_DIR / f"admin-password.{re.sub(r'[^A-Za-z0-9._-]+', '_', name).strip('_')[:100]}"


@dataclass
class LocalAdmin:
    username: str
    created: bool
    password: str | None  # None when the password is not ours to show
    source: str  # where the password comes from, for the message


def ensure_local_admin():
    """Create the superuser `admin` if missing and say how to log in.

    The password comes from PORTAL_ADMIN_PASSWORD when set (and is re-applied, so
    the environment stays the source of truth); otherwise it is generated once and
    kept in an ignored file. A password changed in the admin since is never
    overwritten nor shown.
    """
    user_model = get_user_model()
    user = user_model.objects.filter(username=USERNAME).first()
    created = user is None
    if created:
        user = user_model(username=USERNAME, is_staff=True, is_superuser=True)

    env_password = os.environ.get(PASSWORD_ENV)
    if env_password:
        password, source = env_password, PASSWORD_ENV
    else:
        path = password_file()
        stored = path.read_text(encoding="utf-8").strip() if path.exists() else None
        if created or (stored is None and not user.has_usable_password()):
            password = secrets.token_urlsafe(12)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(password + "\n", encoding="utf-8")
        elif stored is not None and user.check_password(stored):
            password = stored
        else:
            return LocalAdmin(USERNAME, False, None, f"changed since (not the one in {path.name}), so not shown")
        source = str(path.relative_to(settings.BASE_DIR))

    if created or not user.check_password(password):
        user.set_password(password)
    user.is_active = user.is_staff = user.is_superuser = True
    user.save()
    return LocalAdmin(USERNAME, created, password, source)
