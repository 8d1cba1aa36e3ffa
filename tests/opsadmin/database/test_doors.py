"""Index optimization through its doors: the API, `optimize_database`, the Database page, the health check."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings
from django.urls import reverse

from opsadmin.models import OpsRun
from opsadmin.operations.database import catalog
from opsadmin.operations.database.analysis import analyze_database
from opsadmin.operations.database.maintenance import create_missing_indexes
from opsadmin.operations.database.suggestions import HYPOPG, PG_STAT_STATEMENTS, suggest_indexes
from stocks.models import Stock
from stocks.seeding import seed_stocks
from tests.helpers import OPERATORS, VIEWERS, client_for, logged_in, post_json, run_write, sql, user_in
from tests.opsadmin.database.extensions import require_extensions

pytestmark = pytest.mark.django_db

DECLARED = "stock_movers_idx"


@pytest.fixture
def declared_indexes_restored():
    """Transactional tests commit their DROP INDEX: build what is missing again afterwards."""
    yield
    create_missing_indexes()


def drop_declared_index():
    sql(f"DROP INDEX {connection.ops.quote_name(DECLARED)}")


def test_analysis_endpoint_needs_view_ops(client):
    assert client.get("/api/ops/health/database/").status_code == 401
    assert logged_in(username="staff").get("/api/ops/health/database/").status_code == 403
    body = logged_in(VIEWERS).get("/api/ops/health/database/").json()
    assert body["vendor"] == connection.vendor
    assert body["problems"] == []
    assert DECLARED in {row["name"] for row in body["indexes"]}


def test_analysis_endpoint_reports_a_missing_declared_index():
    drop_declared_index()
    body = logged_in(VIEWERS).get("/api/ops/health/database/").json()
    assert DECLARED in [index["name"] for index in body["drift"]["missing"]]
    assert any(DECLARED in problem for problem in body["problems"])


def post_optimize(client, body):
    return post_json(client, "/api/ops/optimize/indexes/", body)


def test_optimize_endpoint_queues_a_run_and_answers_202(django_capture_on_commit_callbacks):
    drop_declared_index()
    client = logged_in(OPERATORS)
    with django_capture_on_commit_callbacks(execute=True):  # queued once the row is committed
        response = post_optimize(client, {"indexes": [DECLARED]})
    assert response.status_code == 202
    run = OpsRun.objects.get()
    assert (run.operation, run.status, run.door) == ("optimize_database", "queued", "api")
    assert response.json()["url"] == f"/api/ops/runs/{run.pk}/"


def test_optimize_endpoint_rejects_unknown_index_names():
    client = logged_in(OPERATORS)
    response = post_optimize(client, {"indexes": ["no_such_index; DROP TABLE stocks_stock"]})
    assert response.status_code == 400
    assert "indexes" in response.json()["fields"]
    assert not OpsRun.objects.exists()
    assert logged_in(VIEWERS, username="viewer").post("/api/ops/optimize/indexes/").status_code == 403


def test_command_dry_run_changes_nothing():
    drop_declared_index()
    out = StringIO()
    with pytest.raises(CommandError, match="still missing") as found:
        call_command("optimize_database", "--dry-run", stdout=out)
    assert found.value.returncode == 1  # a dry run that finds a missing declared index reports it
    assert DECLARED in out.getvalue()
    with connection.cursor() as cursor:
        names = {
            name
            for name, info in connection.introspection.get_constraints(cursor, Stock._meta.db_table).items()
            if info["index"]
        }
    assert DECLARED not in names


def test_command_rejects_an_unknown_index_with_exit_2():
    with pytest.raises(CommandError, match="no_such_index") as error:
        call_command("optimize_database", "--index", "no_such_index", stdout=StringIO())
    assert error.value.returncode == 2
    assert not OpsRun.objects.exists()


@pytest.mark.django_db(transaction=True)  # CREATE INDEX CONCURRENTLY cannot run in a transaction
def test_command_recreates_a_missing_declared_index(declared_indexes_restored):
    drop_declared_index()
    out = StringIO()
    call_command("optimize_database", "--json", stdout=out)
    payload = json.loads(out.getvalue())
    assert payload["status"] == "succeeded"
    assert DECLARED in payload["result"]["created"]
    assert payload["analysis"]["problems"] == []  # the analysis is taken after the run
    call_command("optimize_database", stdout=StringIO())  # nothing left to do: exit 0


def test_database_page_permissions_and_content(client):
    url = reverse("admin:ops_database")
    assert client.get(url).status_code == 302
    assert logged_in(username="staff").get(url).status_code == 403
    page = logged_in(VIEWERS).get(url).content.decode()
    assert 'id="database-indexes"' in page
    assert DECLARED in page


@pytest.mark.django_db(transaction=True)  # the checks run in other threads: they must see the drop
def test_the_indexes_check_warns_in_the_detail_without_failing_readiness(client, declared_indexes_restored):
    drop_declared_index()
    viewer = client_for(user_in(superuser=True, username="root"))  # groups are flushed here
    detail = viewer.get("/health/", HTTP_ACCEPT="application/json").json()
    assert "indexes" in detail["warnings"]
    assert detail["checks"]["indexes"]["status"] == "warning"
    assert DECLARED in detail["checks"]["indexes"]["message"]
    assert client.get("/health/ready/").status_code == 200


@pytest.mark.django_db(transaction=True)  # DROP INDEX CONCURRENTLY on PostgreSQL: outside a transaction
def test_the_drop_page_refuses_a_declared_index_and_a_wrong_confirmation(ops_groups):
    client = logged_in(OPERATORS)
    url = reverse("admin:ops_operation", args=["drop_indexes"])
    refused = client.post(url, {"indexes": [DECLARED]})
    assert "a model declares it" in refused.content.decode()
    unknown = client.post(url, {"indexes": ["nope"]})
    assert "Unknown index: nope" in unknown.content.decode()
    sql("CREATE INDEX stock_industry_idx ON stocks_stock (industry)")
    shown = client.post(url, {"indexes": ["stock_industry_idx"]}).content.decode()
    assert "Drop 1 index" in shown  # what, to what, before it happens
    assert "stock_industry_idx (on stocks_stock" in shown
    wrong = client.post(url, {"indexes": ["stock_industry_idx"], "confirm": "stock_movers_idx", "confirmed": "yes"})
    assert "Type the index names exactly to confirm: stock_industry_idx." in wrong.content.decode()
    # The form's own errors were no attempt; the wrong confirmation was, and the audit log says so.
    attempt = OpsRun.objects.get()
    assert (attempt.door, attempt.status) == ("admin", "refused")
    assert attempt.error == "confirm: Type the index names exactly to confirm: stock_industry_idx."
    assert f"Drop indexes refused: {attempt.error}" in wrong.content.decode()
    client.post(url, {"indexes": ["stock_industry_idx"], "confirm": "stock_industry_idx", "confirmed": "yes"})
    assert OpsRun.objects.exclude(pk=attempt.pk).get().status == OpsRun.Status.SUCCEEDED
    assert "stock_industry_idx" not in catalog.index_names()


@pytest.fixture
def slow_volume_query(settings):
    """A query pg_stat_statements has seen often, which an index on volume would make much cheaper."""
    settings.PORTAL_SLOW_QUERY_MIN_CALLS, settings.PORTAL_SLOW_QUERY_MIN_MEAN_MS = 5, 0
    seed_stocks(stocks=40, days=500, seed=1)  # 20,000 bars, ANALYZEd
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_statements_reset()")
        for volume in range(6):
            cursor.execute("SELECT id, date, close FROM stocks_dailybar WHERE volume = %s", [volume])
    yield
    with connection.cursor() as cursor:  # the built index outlives the (transactional) test: drop it
        for row in catalog.index_rows():
            if row.table == "stocks_dailybar" and row.columns == ["volume"]:
                cursor.execute(f"DROP INDEX {connection.ops.quote_name(row.name)}")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # built CONCURRENTLY, outside a transaction
def test_a_suggested_index_is_built_from_its_suggestion(slow_volume_query):
    require_extensions(HYPOPG, PG_STAT_STATEMENTS)
    (suggestion,) = [s for s in suggest_indexes() if s.table == "stocks_dailybar" and s.columns == ["volume"]]
    run = run_write("create_suggested_indexes", {"indexes": [suggestion.name]})
    assert run.status == OpsRun.Status.SUCCEEDED, run.error
    built = {row.name: row for row in catalog.index_rows()}[suggestion.name]
    assert built.valid
    assert built.columns == ["volume"]
    # Just built, never scanned, declared by no model: labelled as a suggestion's, and advised once, to declare it.
    with override_settings(PORTAL_UNUSED_INDEX_MIN_BYTES=0):
        found = analyze_database()
    assert [(b.name, b.run) for b in found.built_from_suggestions] == [(suggestion.name, run.pk)]
    assert [line for line in found.advice if suggestion.name in line] == [
        f"Index {suggestion.name} on stocks_dailybar was built from a suggestion by run #{run.pk} on "
        f"{run.finished_at:%Y-%m-%d}: declare it in Meta.indexes of its model to keep it."
    ]
