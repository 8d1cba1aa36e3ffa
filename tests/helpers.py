"""What the tests share: users by role, logged-in clients, JSON requests, running a write, SQL.

The roles are the ops groups the data migration creates ("Ops viewers", "Ops operators");
a transactional test flushes them, so it asks for the `ops_groups` fixture first.
"""

import json

from django.contrib.auth.models import Group, Permission, User
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client

from opsadmin.models import OpsRun
from opsadmin.spine import registry, targets
from opsadmin.spine.runs import Actor, submit

PASSWORD = "pw-for-tests-123"
VIEWERS, OPERATORS = "Ops viewers", "Ops operators"


def user_in(group=None, *, username=None, staff=True, permissions=(), superuser=False):
    """A user in `group` (or none), staff unless told otherwise, with extra permissions by codename."""
    username = username or (group or "someone").lower().replace(" ", "-")
    if superuser:
        return User.objects.create_superuser(username, password=PASSWORD)
    user = User.objects.create_user(username, password=PASSWORD, is_staff=staff)
    if group:
        user.groups.add(Group.objects.get(name=group))
    if permissions:
        user.user_permissions.add(*Permission.objects.filter(codename__in=permissions))
    return user


def client_for(user, **defaults):
    """A test client logged in as `user`."""
    client = Client(**defaults)
    client.force_login(user)
    return client


def logged_in(group=None, **kwargs):
    """A client logged in as a new user in `group` (see user_in)."""
    return client_for(user_in(group, **kwargs))


def post_json(client, url, data, **headers):
    body = data if isinstance(data, str | bytes) else json.dumps(data)
    return client.post(url, body, content_type="application/json", **headers)


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def run_write(name, data, *, where=None):
    """Submit a declared write from the command line; returns its run.

    As `manage.py ops run` does, a task-worker write is performed here, and work for processes
    is sent to them; `where` sends it elsewhere.
    """

    def place(declared):
        if where is not None:
            return where
        return targets.HERE if declared == targets.TASK_WORKER else declared

    return submit(registry.get_write(name), data, actor=Actor.cli(), door=OpsRun.Door.CLI, where=place)


def sql(*statements):
    """Run statements on the default database, in turn; the last one's rows, when it returns some."""
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
        return cursor.fetchall() if cursor.description else None


def exit_code(*command, **streams):
    """The exit code a management command ends with: 0, or its CommandError's."""
    try:
        call_command(*command, **streams)
    except CommandError as error:
        return error.returncode
    return 0
