"""Every declared read and write, on all three doors, with its permission enforced on each.

Enumerated from the declarations (opsadmin.spine.registry), so a capability added later is
covered without a line here: its reads answer GET /api/ops/<capability>/<read>/ and
`manage.py ops show`, its page shows to those with its permission; its writes refuse
callers without theirs, and give every door the form's error for bad input, before
anything runs. The paths and commands from before capabilities were declared still work.
"""

import json
import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import resolve, reverse

from opsadmin.admin.dashboard import page_url
from opsadmin.models import OpsRun
from opsadmin.runtime.heartbeat import ProcessThread, record_heartbeat
from opsadmin.runtime.identity import HOST
from opsadmin.spine import registry
from opsadmin.spine.arguments import takes_a_list
from opsadmin.spine.catalog import api_url_name
from opsadmin.spine.results import STATUSES
from tests.helpers import OPERATORS, exit_code, logged_in, post_json
from tests.opsadmin.endpoints import read_parameters, reads, write_arguments, writes

pytestmark = pytest.mark.django_db

NUL = "\x00"  # a value every door refuses before any form or operation sees it
README = Path(__file__).resolve().parents[2] / "README.md"


def each(pairs):
    """(capability, read or write) pairs as test parameters named capability.name."""
    return [pytest.param(capability, item, id=f"{capability.name}.{item.name}") for capability, item in pairs]


def holding(permission, username="holder"):
    """A client of a staff user with just this ops permission."""
    return logged_in(username=username, permissions=[permission])


@pytest.mark.parametrize(("capability", "read"), each(reads()))
def test_every_read_answers_on_the_api_and_the_command_line(client, capability, read):
    parameters = read_parameters(capability, read)
    query = parameters() if parameters else {}
    path = reverse(api_url_name(capability, read.name))

    assert client.get(path, query).status_code == 401
    assert logged_in(username="staff").get(path, query).status_code == 403
    response = holding(read.permission).get(path, query)
    assert response.status_code == 200, response.content
    section = response.json()
    assert section["status"] in STATUSES
    assert set(section) == {"status", "ok", "headline", "detail", "lines", "data"}

    out = StringIO()
    assignments = [argument for name, value in query.items() for argument in ("--set", f"{name}={value}")]
    assert exit_code("ops", "show", f"{capability.name}.{read.name}", *assignments, "--json", stdout=out) in (0, 1)
    assert json.loads(out.getvalue())["headline"] == section["headline"]


@pytest.mark.parametrize("capability", registry.capabilities(), ids=lambda capability: capability.name)
def test_every_capability_page_shows_to_its_readers_only(client, capability):
    url = page_url(capability)
    if not url:
        pytest.skip(f"{capability.name} has no admin page")
    permission = capability.page.permission if capability.page else capability.status_read.permission
    assert client.get(url).status_code == 302  # to the login page
    assert logged_in(username="staff").get(url).status_code == 403
    assert holding(permission).get(url).status_code == 200


@pytest.mark.parametrize(("capability", "write"), each(writes()))
def test_every_write_refuses_without_its_permission_and_bad_input_on_every_door(client, capability, write):
    field = next(iter(write.form_class.base_fields))
    bad = {field: NUL}
    path = reverse(api_url_name(capability, write.name))
    page = reverse("admin:ops_operation", args=[write.name])
    others = "view_ops" if write.permission != "view_ops" else None

    assert post_json(client, path, bad).status_code == 401
    assert client.get(page).status_code == 302
    if others:
        lacking = holding(others, username="lacking")
        assert post_json(lacking, path, bad).status_code == 403
        assert lacking.get(page).status_code == 403

    allowed = holding(write.permission)
    refused = post_json(allowed, path, bad)
    assert refused.status_code == 400
    assert field in refused.json()["fields"]
    form = allowed.get(page)
    assert form.status_code == 200
    refused_page = allowed.post(page, bad)
    assert refused_page.status_code == 200
    assert "Null characters" in refused_page.content.decode()
    with pytest.raises(CommandError, match="Null characters") as command:
        call_command("ops", "run", write.name, "--set", f"{field}={NUL}", stdout=StringIO())
    assert command.value.returncode == 2
    # Nothing ran. A destructive write's attempts are audited as refused (the admin's form step is no attempt yet).
    refusals = list(OpsRun.objects.order_by("pk"))
    if write.destructive:
        assert [(run.door, run.status) for run in refusals] == [("api", "refused"), ("cli", "refused")]
        assert refused.json()["run"] == f"/api/ops/runs/{refusals[0].pk}/"
        assert {str(run.arguments[field]) for run in refusals} <= {ascii(NUL), str([ascii(NUL)])}
    else:
        assert refusals == []


@pytest.mark.parametrize(("capability", "write"), each(writes()))
def test_a_json_null_is_refused_by_every_write_field(capability, write):
    """Null is not read as "None" (a ticker) or as "no" (a dry run become real): 400 naming the field."""
    allowed = holding(write.permission)
    path = reverse(api_url_name(capability, write.name))
    for field, form_field in write.form_class.base_fields.items():
        for value in (None, [None]) if takes_a_list(form_field) else (None,):
            response = post_json(allowed, path, {field: value})
            assert response.status_code == 400, (field, value)
            assert "null is not a value here" in response.json()["fields"][field][0]
    assert not OpsRun.objects.exclude(status=OpsRun.Status.REFUSED).exists()


@pytest.mark.parametrize(("capability", "write"), each(writes()))
def test_every_write_runs_on_every_door(capability, write, settings):
    """Each door submits the write with sample arguments and records one run of it: 200 or 202, a redirect to
    the run's page, an exit code that says how it went."""
    settings.PORTAL_COMMAND_TIMEOUT_SECONDS = 0.3  # nobody runs this process's thread here: don't wait long
    if write_arguments(write) is None:
        pytest.skip(f"{write.name}: no harmless sample here (see SAMPLE_ARGUMENTS)")
    allowed = holding(write.permission)

    response = post_json(allowed, reverse(api_url_name(capability, write.name)), write_arguments(write))
    assert response.status_code in (200, 202), response.content
    assert response.json()["operation"] == write.name

    page = reverse("admin:ops_operation", args=[write.name])
    submitted = allowed.post(page, {**write_arguments(write), "confirmed": "yes"})
    assert submitted.status_code == 302, submitted.content.decode()[-2000:]
    assert submitted["Location"].startswith("/admin/opsadmin/opsrun/")

    assignments = [
        argument
        for name, value in write_arguments(write).items()
        for item in (value if isinstance(value, list) else [value])
        for argument in ("--set", f"{name}={item}")
    ]
    assert exit_code("ops", "run", write.name, *assignments, stdout=StringIO(), stderr=StringIO()) in (0, 1)

    doors = sorted(OpsRun.objects.filter(operation=write.name).values_list("door", flat=True))
    assert doors == ["admin", "api", "cli"]


def test_arguments_are_recorded_typed_and_the_same_from_every_door(settings):
    """The admin posts "on", the command line "true", the API true: each run records what the form made of it."""
    settings.PORTAL_COMMAND_TIMEOUT_SECONDS = 0.3
    operator = holding("run_index_optimization")
    post_json(operator, reverse("ops_api:database.optimize_database"), {"dry_run": True})
    operator.post(reverse("admin:ops_operation", args=["optimize_database"]), {"dry_run": "on"})
    call_command("ops", "run", "optimize_database", "--set", "dry_run=true", stdout=StringIO())

    recorded = list(OpsRun.objects.order_by("pk").values_list("door", "arguments"))
    assert recorded == [(door, {"dry_run": True, "indexes": []}) for door in ("api", "admin", "cli")]


def test_the_catalog_lists_every_read_and_write_with_its_door(client):
    out = StringIO()
    call_command("ops", "list", "--json", stdout=out)
    listed = json.loads(out.getvalue())
    assert listed == logged_in(username="viewer", permissions=["view_ops"]).get("/api/ops/").json()
    by_name = {capability["name"]: capability for capability in listed["capabilities"]}
    assert list(by_name) == [capability.name for capability in registry.capabilities()]
    for capability, read in reads():
        (entry,) = [item for item in by_name[capability.name]["reads"] if item["name"] == read.name]
        assert entry["permission"] == read.permission_name
        assert resolve(entry["path"]).url_name == f"{capability.name}.{read.name}"
    for capability, write in writes():
        (entry,) = [item for item in by_name[capability.name]["writes"] if item["name"] == write.name]
        assert (entry["permission"], entry["target"]) == (write.permission_name, "|".join(write.targets))
        assert resolve(entry["path"]).url_name == f"{capability.name}.{write.name}"


def test_the_catalog_as_text_lines_up_its_columns():
    out = StringIO()
    call_command("ops", "list", stdout=out)
    entries = [line for line in out.getvalue().splitlines() if line.startswith(("  read ", "  write "))]
    assert len(entries) == sum(len(capability.reads) + len(capability.writes) for capability in registry.capabilities())
    assert len({line.index(" opsadmin.") for line in entries}) == 1
    assert len({max(line.find(" GET /"), line.find(" POST /")) for line in entries}) == 1


def test_every_api_path_in_the_readme_still_answers():
    """Each `GET|POST /api/ops/...` of the README's tables answers an operator with JSON, not a 404 or 405."""
    listed = set(re.findall(r"`(GET|POST) (/api/ops/[^` ]*)", README.read_text()))
    assert ("POST", "/api/ops/caches/clear/") in listed  # the tables are where this looks
    run = OpsRun.objects.create(operation="drain", door="cli", actor="cli", status="succeeded")
    operator = logged_in(username="root", superuser=True)
    for method, path in listed:
        if "<capability>" in path:
            continue  # the pattern of every capability's paths: test_every_read/write_* go through them
        concrete = path.replace("<id>", str(run.pk)).replace("<name>", "cache")
        response = operator.get(concrete) if method == "GET" else post_json(operator, concrete, {"dry_run": True})
        assert response.status_code not in (404, 405), f"{method} {path}: {response.status_code}"
        assert response["Content-Type"] == "application/json", path


@pytest.mark.django_db(transaction=True)  # this process's own thread answers the clear sent to it
@pytest.mark.parametrize(
    "command",
    [
        ["optimize_database", "--dry-run", "--json"],
        ["clear_cache", "--alias", "default", "--dry-run", "--json"],
        ["drain", f"{HOST}:8000", "--resume", "--json"],
    ],
    ids=lambda command: command[0],
)
def test_the_named_commands_still_run_their_write(command, settings, ops_groups):
    settings.PORTAL_COMMAND_POLL_SECONDS = 0.05
    record_heartbeat(HOST, "8000", force=True)  # a web process: what `drain` names, and where a local clear goes
    thread = ProcessThread("8000", "web")
    thread.start()
    out = StringIO()
    try:
        assert exit_code(*command, stdout=out, stderr=StringIO()) == 0
    finally:
        thread.stop()
    run = json.loads(out.getvalue())
    assert (run["status"], run["door"]) == ("succeeded", "cli")


def test_system_status_exits_1_exactly_when_a_section_is_not_ok():
    out = StringIO()
    code = exit_code("system_status", "--json", stdout=out)
    status = json.loads(out.getvalue())
    assert code == (0 if status["ok"] else 1)
    assert list(status["sections"]) == [capability.name for capability in registry.capabilities() if capability.status]


def test_a_read_with_a_required_parameter_says_which_on_every_door():
    viewer = holding("view_ops")
    response = viewer.get(reverse("ops_api:runs.run"))
    assert (response.status_code, response.json()["fields"]) == (400, {"id": ["This field is required."]})
    assert viewer.get(reverse("ops_api:runs.run"), {"id": "999"}).status_code == 404
    with pytest.raises(CommandError, match="no run 999") as missing:
        call_command("ops", "show", "runs.run", "--set", "id=999", stdout=StringIO())
    assert missing.value.returncode == 2
    with pytest.raises(CommandError, match="no read") as unknown:
        call_command("ops", "show", "nope.nothing")
    assert unknown.value.returncode == 2
    with pytest.raises(CommandError, match="no write") as unknown_write:
        call_command("ops", "run", "nope")
    assert unknown_write.value.returncode == 2


def test_a_write_alias_takes_arguments_from_its_path_and_not_twice(probe_capability):
    operator = logged_in(OPERATORS, username="operator")
    sent = post_json(operator, "/api/ops/probe/web-1:8000/4242/whoami/", {})
    assert sent.status_code == 202
    assert (sent.json()["operation"], sent.json()["arguments"]) == ("whoami", {"instance": "web-1:8000", "pid": 4242})
    twice = post_json(operator, "/api/ops/probe/web-1:8000/4242/whoami/", {"pid": 1})
    assert (twice.status_code, twice.json()["fields"]) == (400, {"pid": ["given by the path already"]})
    assert OpsRun.objects.count() == 1


def test_a_capability_brings_its_own_permission_and_only_its_holders_read_its_section(probe_capability):
    """The tests' probe capability sums itself up with a read that needs view_probe: operators get it, viewers don't."""
    viewer, operator = holding("view_ops", username="viewer"), logged_in(OPERATORS, username="operator")
    assert "probe" not in viewer.get("/api/ops/status/").json()["sections"]
    assert operator.get("/api/ops/status/").json()["sections"]["probe"]["headline"] == "probed"
    assert 'data-tile="probe"' not in viewer.get(reverse("admin:index")).content.decode()
    assert 'data-tile="probe"' in operator.get(reverse("admin:index")).content.decode()
    assert viewer.get(reverse("ops_api:probe.status")).status_code == 403
