"""Every ops endpoint, enumerated from the declarations: what the door, access and fuzz tests go through.

A read whose form has required parameters needs sample values here, and every write needs
sample arguments a test database can run it with (or None, saying why it can't), or the
tests that enumerate them fail saying so: coverage stays by construction.
"""

import itertools
import os
import re
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from opsadmin.models import AlertIncident, AlertSilence, InstanceWorker, OpsRun
from opsadmin.runtime.heartbeat import record_heartbeat
from opsadmin.runtime.identity import HOST
from opsadmin.spine import registry
from opsadmin.spine.catalog import api_url_name
from stocks.models import Stock

_numbers = itertools.count()
CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")  # a path's parameter: <int:id>, <str:name>, <name>


def sample_run_id():
    return {"id": str(OpsRun.objects.create(operation="drain", door="cli", actor="cli", status="succeeded").pk)}


def sample_resume():
    record_heartbeat(HOST, "8000", force=True)
    return {"instances": [f"{HOST}:8000"], "action": "resume"}


def sample_extra_index():
    """An index of its own for each call, declared by no model: one a drop may take."""
    name = f"door_sample_{next(_numbers)}_idx"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE INDEX {name} ON stocks_stock (name)")
    return {"indexes": [name], "confirm": name}


def sample_stock():
    Stock.objects.get_or_create(ticker="DOOR", defaults={"name": "Door Sample Inc."})
    return {"tickers": ["DOOR"]}


def sample_flush():
    """Only Redis has a database to flush: none on the embedded default."""
    if "redis" not in settings.CACHES["default"]["BACKEND"].lower():
        return None
    confirmation = registry.get_write("flush_redis_db").confirmation({"alias": "default"})
    return {"alias": "default", "confirm": confirmation.typed}


def sample_worker():
    """This test process as a live web worker of HOST:8000, named as the Memory page names it."""
    record_heartbeat(HOST, "8000", force=True)
    return f"{HOST}:8000 pid {os.getpid()}"


def sample_recycle():
    """Another worker of the same instance (nobody answers for it here): recycling one of two is allowed."""
    sample_worker()
    now = timezone.now()
    InstanceWorker.objects.get_or_create(
        instance_id=f"{HOST}:8000", pid=os.getpid() + 100_000, defaults={"started_at": now, "last_seen_at": now}
    )
    return {"processes": [f"{HOST}:8000 pid {os.getpid() + 100_000}"]}


def sample_member():
    """A user to reset the rate limits of, and an anonymous address."""
    User.objects.get_or_create(username="door-member")
    return {"usernames": ["door-member"], "addresses": ["192.0.2.7"]}


def sample_breaker():
    """The cache's breaker: opened, cache calls miss for the rest of the test; the database's would refuse queries."""
    return {"name": "cache"}


def sample_incident():
    """An open incident of its own for each call: acknowledging one is done once."""
    now = timezone.now()
    incident = AlertIncident.objects.create(
        rule="PortalOpsRunFailed",
        key=f"PortalOpsRunFailed{{operation=door_{next(_numbers)}}}",
        severity="warning",
        summary="a door sample",
        opened_at=now,
        last_firing_at=now,
    )
    return {"incident": incident.pk}


def sample_silence():
    """A rule silenced now, whose silence the write ends."""
    now = timezone.now()
    AlertSilence.objects.create(
        rule="PortalOpsRunFailed", until=now + timedelta(hours=1), reason="door", created_by="door", created_at=now
    )
    return {"rule": "PortalOpsRunFailed"}


def sample_session():
    """An idle session of another client, of its own for each call (a terminate ends it): only PostgreSQL has them."""
    if connection.vendor != "postgresql":
        return None
    from tests.opsadmin.activity.sessions import Session  # closed after each test (tests/opsadmin/conftest.py)

    return {"pids": [Session().pid]}


SAMPLE_PARAMETERS = {"runs.run": sample_run_id}
SAMPLE_ARGUMENTS = {
    "drain": sample_resume,
    "optimize_database": lambda: {"dry_run": True},
    "rebuild_indexes": lambda: {},
    "create_suggested_indexes": None,  # needs a slow query and hypopg: database/test_doors.py builds both
    "drop_indexes": sample_extra_index,
    "analyze_tables": lambda: {"tables": ["stocks_stock"]},
    "vacuum_tables": lambda: {"tables": ["stocks_stock"]},
    "clear_cache": lambda: {"alias": "default", "dry_run": True},
    "flush_redis_db": sample_flush,
    "invalidate_stocks": sample_stock,
    "reset_breaker": sample_breaker,
    "open_breaker": sample_breaker,
    "half_open_breaker": sample_breaker,
    "collect_garbage": lambda: {"processes": [sample_worker()]},
    "recycle_workers": sample_recycle,
    "rolling_recycle": lambda: {"instances": [sample_recycle()["processes"][0].split(" pid ")[0]]},
    "reset_rate_limits": sample_member,
    "acknowledge_alert": sample_incident,
    "silence_alert": lambda: {"rule": "PortalBreakerOpen", "minutes": 30, "reason": "door test"},
    "unsilence_alert": sample_silence,
    "evaluate_alerts": lambda: {},
    # Needs a channel to send to: tests/opsadmin/alerts/test_doors.py sends to a local webhook receiver.
    "test_alert_delivery": None,
    "cancel_query": sample_session,
    "terminate_backend": sample_session,
    "allocation_snapshot": lambda: {
        "instance": sample_worker().split(" pid ")[0],
        "pid": os.getpid(),
        "seconds": 1,
        "top": 5,
    },
}


def write_arguments(write):
    """Sample arguments of a write, or None when no test database can run it (the sample says why)."""
    if write.name not in SAMPLE_ARGUMENTS:
        raise AssertionError(f"{write.name} has no sample arguments: add them to SAMPLE_ARGUMENTS")
    sample = SAMPLE_ARGUMENTS[write.name]
    return sample() if sample else None


@dataclass
class Endpoint:
    path: str  # may hold converters (runs/<int:id>/, breakers/<str:name>/reset/), filled from the sample parameters
    method: str  # GET for reads, POST for writes
    permission: str  # the codename it needs
    parameters: object = None  # a callable giving sample parameters (it may touch the database): a read's, or a path's
    form_class: type = None  # for writes: the form its body goes to

    @property
    def id(self):
        return f"{self.method} {self.path}"

    def resolve(self):
        """(path, query) to request, sample parameters filled in: into the path's converters, else the query."""
        query = dict(self.parameters() if self.parameters else {})
        path = CONVERTER.sub(lambda parameter: str(query.pop(parameter.group(1))), self.path)
        return path, query


def reads():
    """(capability, read) of every declared read."""
    return [(capability, read) for capability in registry.capabilities() for read in capability.reads]


def writes():
    return [(capability, write) for capability in registry.capabilities() for write in capability.writes]


def read_parameters(capability, read):
    """The sample query parameters of a read: none, or SAMPLE_PARAMETERS' for those that need some."""
    key = f"{capability.name}.{read.name}"
    required = [name for name, field in read.form_class.base_fields.items() if field.required]
    if required and key not in SAMPLE_PARAMETERS:
        raise AssertionError(f"{key} needs {', '.join(required)}: add sample values to SAMPLE_PARAMETERS")
    return SAMPLE_PARAMETERS.get(key)


def api_endpoints():
    """Every path of the ops API: the catalog and status, each read and write, and each alias kept from before."""
    found = [
        Endpoint(reverse("ops_api:index"), "GET", "view_ops"),
        Endpoint(reverse("ops_api:status"), "GET", "view_ops"),
    ]
    for capability, read in reads():
        parameters = read_parameters(capability, read)
        found.append(Endpoint(reverse(api_url_name(capability, read.name)), "GET", read.permission, parameters))
    for capability, write in writes():
        path = reverse(api_url_name(capability, write.name))
        found.append(Endpoint(path, "POST", write.permission, form_class=write.form_class))
    for capability in registry.capabilities():
        for alias in capability.aliases:
            path = f"/api/ops/{alias.path}"
            if alias.read:
                read = capability.read(alias.read)
                found.append(Endpoint(path, "GET", read.permission, read_parameters(capability, read)))
            else:
                write = capability.write(alias.write)
                parameters = path_arguments(alias.path, write)
                found.append(Endpoint(path, "POST", write.permission, parameters, form_class=write.form_class))
    return found


def path_arguments(path, write):
    """The sample values of a write alias's path parameters (its write's sample arguments), or None for none."""
    names = CONVERTER.findall(path)
    if not names:
        return None
    return lambda: {name: write_arguments(write)[name] for name in names}
