"""The Database page and its advice: problems first, the project's tables first, advice that holds together.

Through the admin page as a viewer or operator would open it, on both databases; the
advice rules (third-party tables, indexes built from a suggestion, when "unused" may be
said) on the analysis itself. The lock test holds a real ACCESS EXCLUSIVE lock from a
second session and checks that the page answers, in bounded time, saying who holds it.
"""

import contextlib
import time
from datetime import timedelta

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from health_check.exceptions import ServiceWarning

from opsadmin.models import OpsRun
from opsadmin.operations.database import catalog, ownership
from opsadmin.operations.database.analysis import analyze_database
from opsadmin.operations.database.health_check import DeclaredIndexes
from opsadmin.operations.database.reports import CREATE, DONE, IndexStep, index_report
from opsadmin.operations.database.sections import analysis as analysis_section
from opsadmin.operations.database.sections import index_status
from opsadmin.spine.results import jsonable
from tests.helpers import OPERATORS, VIEWERS, logged_in, sql

DECLARED = "stock_movers_idx"
EXTRA = "stock_industry_idx"  # declared by no model
PAGE = "admin:ops_database"


def page(group):
    response = logged_in(group).get(reverse(PAGE))
    assert response.status_code == 200
    return response


def built_from_a_suggestion(name, *, finished_at=None):
    """The audit row create_suggested_indexes leaves after building `name` (its report, as the run stores it)."""
    step = IndexStep(action=CREATE, name=name, table="stocks_stock", sql=[f'CREATE INDEX CONCURRENTLY "{name}"'])
    step.status = DONE
    report = index_report(CREATE, False, [step], time.monotonic())
    return OpsRun.objects.create(
        operation="create_suggested_indexes",
        door="admin",
        actor="operator",
        status="succeeded",
        arguments={"indexes": [name]},
        result=jsonable(report),
        summary=report.summary,
        finished_at=finished_at or timezone.now(),
    )


# --- Both databases ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_problems_come_first_then_the_project_s_tables_then_third_party_ones():
    sql(f"DROP INDEX {DECLARED}")  # rolled back with the test
    response = page(VIEWERS)
    checks = response.context["checks"]
    assert (checks[0].status, checks[0].text) == ("warning", "1 declared index missing")
    assert [check.status for check in checks] == sorted(
        (check.status for check in checks), key=["failing", "warning", "unknown", "ok"].index
    )
    owners = ownership.table_owners()
    third_party = [
        ownership.owner_of(entry["row"].table, owners).third_party for entry in response.context["index_entries"]
    ]
    assert third_party == sorted(third_party)  # every project table's index before any third-party one
    assert third_party[0] is False
    assert third_party[-1] is True
    html = response.content.decode()
    assert html.index('id="database-checks"') < html.index('id="database-problems"') < html.index('id="indexes"')
    assert f"Declared index {DECLARED} on stocks_stock (stocks.Stock) is missing." in html


@pytest.mark.django_db
def test_a_declared_index_with_another_definition_is_a_problem_on_every_door():
    sql(f"DROP INDEX {DECLARED}", f"CREATE INDEX {DECLARED} ON stocks_stock (ticker)")  # a twin of the unique one
    assert analyze_database().drift.changed[0].name == DECLARED

    operator = page(OPERATORS)
    assert operator.context["checks"][0].text == "1 declared index with another definition"
    problems = operator.context["analysis"].problems
    assert len(problems) == 1
    assert not [line for line in operator.context["analysis"].advice if DECLARED in line]  # the problem says it all
    assert problems[0].startswith(f"Declared index {DECLARED} on stocks_stock is present with another definition: ")
    content = operator.content.decode()
    assert "another definition" in content
    assert f'name="indexes" value="{DECLARED}" checked' in content  # offered to optimize_database
    assert f'value="{DECLARED}" checked' not in page(VIEWERS).content.decode()
    section = index_status()
    assert (section.status, section.lines) == ("warning", [f"changed: {DECLARED}"])
    with pytest.raises(ServiceWarning, match=f"changed: {DECLARED} \\(run optimize_database\\)"):
        DeclaredIndexes().run()


@pytest.mark.django_db
def test_an_index_built_from_a_suggestion_is_labelled_so_and_not_called_undeclared():
    sql(f"CREATE INDEX {EXTRA} ON stocks_stock (industry)")
    run = built_from_a_suggestion(EXTRA)

    found = analyze_database()

    assert [built.name for built in found.built_from_suggestions] == [EXTRA]
    (line,) = [line for line in found.advice if EXTRA in line]
    assert line == (
        f"Index {EXTRA} on stocks_stock was built from a suggestion by run #{run.pk} on "
        f"{run.finished_at:%Y-%m-%d}: declare it in Meta.indexes of its model to keep it."
    )
    entry = next(entry for entry in page(VIEWERS).context["index_entries"] if entry["row"].name == EXTRA)
    assert entry["badges"] == [(f"from a suggestion, run #{run.pk}", "primary")]


@pytest.mark.django_db
def test_an_index_no_model_declares_is_badged_and_advised_once():
    sql(f"CREATE INDEX {EXTRA} ON stocks_stock (industry)")
    found = analyze_database()
    assert [line for line in found.advice if EXTRA in line] == [
        f"Index {EXTRA} on stocks_stock is declared by no model: declare it in Meta.indexes, or drop it if nothing "
        "needs it."
    ]
    entry = next(entry for entry in page(VIEWERS).context["index_entries"] if entry["row"].name == EXTRA)
    assert ("declared by no model", "default") in entry["badges"]


@pytest.mark.django_db
def test_the_rebuild_and_drop_pages_show_only_the_selected_indexes_with_their_table_size_and_scans():
    sql(f"CREATE INDEX {EXTRA} ON stocks_stock (industry)")
    operator = logged_in(OPERATORS)
    primary = next(row.name for row in catalog.index_rows(["stocks_stock"]) if row.primary or row.unique)
    drop = operator.get(reverse("admin:ops_operation", args=["drop_indexes"]), {"indexes": [EXTRA, primary, "nope"]})
    choices = drop.context["form"].fields["indexes"].choices
    assert [name for name, _ in choices] == [EXTRA]
    assert choices[0][1].startswith(f"{EXTRA} (on stocks_stock")
    html = drop.content.decode()
    assert f"Left out: {primary}: it is a " in html
    assert "; nope: no such index." in html
    assert DECLARED not in html  # not every index of the database: only the selection

    rebuild = operator.get(reverse("admin:ops_operation", args=["rebuild_indexes"]), {"indexes": [primary]})
    assert [name for name, _ in rebuild.context["form"].fields["indexes"].choices] == [primary]
    if connection.vendor == "postgresql":
        assert rebuild.context["form"].fields["indexes"].choices[0][1].endswith(" scans)")


# --- SQLite ---------------------------------------------------------------------------------------------


@pytest.mark.sqlite
@pytest.mark.django_db
def test_on_sqlite_the_page_offers_analyze_to_an_operator_only():
    operator = page(OPERATORS).content.decode()
    assert 'id="analyze-selected"' in operator
    assert 'id="analyze-all"' in operator
    assert 'name="tables" value="stocks_stock"' in operator
    assert 'id="vacuum-selected"' not in operator  # SQLite has no per-table VACUUM
    viewer = page(VIEWERS).content.decode()
    assert 'id="analyze-selected"' not in viewer
    assert 'name="tables"' not in viewer
    assert 'data-table="stocks_stock"' in viewer  # listed all the same


# --- PostgreSQL -----------------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db
def test_third_party_tables_are_listed_but_not_advised_on():
    # Django's auth join tables: an index on user_id beside the unique (user_id, group_id), a duplicate.
    assert any(row.table == "auth_user_groups" for row in catalog.duplicate_indexes())
    sql(f"CREATE INDEX {EXTRA} ON stocks_stock (industry)")  # new: never scanned
    with override_settings(PORTAL_UNUSED_INDEX_MIN_BYTES=0, PORTAL_UNUSED_INDEX_MIN_DAYS=0):
        found = analyze_database()
    assert "auth_user_groups" in found.third_party_tables
    assert any(row.table == "auth_user_groups" for row in found.indexes)
    assert not [row for row in found.duplicate_indexes if row.table in found.third_party_tables]
    assert not [row for row in found.unused_indexes if row.table in found.third_party_tables]
    assert not [line for line in found.advice if any(table in line for table in found.third_party_tables)]
    assert EXTRA in {row.name for row in found.unused_indexes}  # the project's are judged


@pytest.mark.postgres
@pytest.mark.django_db
def test_an_index_is_judged_unused_only_once_its_own_counter_has_run_long_enough():
    """The statistics are older than the minimum age; an index the portal built just now is not."""
    sql(f"CREATE INDEX {EXTRA} ON stocks_stock (industry)", "CREATE INDEX stock_name_idx ON stocks_stock (name)")
    statistics_age = timezone.now() - catalog.scan_statistics().counting_since
    if statistics_age < timedelta(seconds=2):
        time.sleep(2)
        statistics_age += timedelta(seconds=2)
    run = built_from_a_suggestion(EXTRA)
    half = statistics_age.total_seconds() / 2 / 86400
    with override_settings(PORTAL_UNUSED_INDEX_MIN_BYTES=0, PORTAL_UNUSED_INDEX_MIN_DAYS=half):
        found = analyze_database()
    assert "stock_name_idx" in {row.name for row in found.unused_indexes}
    assert EXTRA in {row.name for row in found.unused_not_judged}
    assert next(row for row in found.unused_not_judged if row.name == EXTRA).counting_since == run.finished_at
    assert not [line for line in found.advice if EXTRA in line and "scanned" in line]

    run.finished_at = timezone.now() - timedelta(days=1)  # built long enough ago: now it may be called unused
    run.save()
    with override_settings(PORTAL_UNUSED_INDEX_MIN_BYTES=0, PORTAL_UNUSED_INDEX_MIN_DAYS=half):
        (line,) = [line for line in analyze_database().advice if EXTRA in line]
    assert line.startswith(f"Index {EXTRA} on stocks_stock (8.0 KiB), built from a suggestion by run #{run.pk} on ")
    assert "has not been scanned in " in line
    assert line.endswith("consider dropping it. The query it was built for may be gone.")


@contextlib.contextmanager
def held_exclusively(table):
    """Another session holding `table` ACCESS EXCLUSIVE (as an ALTER TABLE would), until the block ends."""
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with other.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            cursor.execute("SELECT pg_backend_pid()")
            yield cursor.fetchone()[0]
            cursor.execute("ROLLBACK")
    finally:
        other.close()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # the page's own session must not hold locks the other one waits for
def test_the_page_waits_for_a_locked_table_no_longer_than_the_lock_timeout_and_says_who_holds_it(settings, ops_groups):
    settings.PORTAL_INDEX_LOCK_TIMEOUT = "300ms"
    viewer = logged_in(VIEWERS)
    with held_exclusively("stocks_stock") as pid:
        started = time.monotonic()
        response = viewer.get(reverse(PAGE))
        waited = time.monotonic() - started
        api = viewer.get("/api/ops/database/analysis/")
        status = index_status()
        with pytest.raises(ServiceWarning, match="declared indexes unknown: could not read the catalog within"):
            DeclaredIndexes().run()
        operator = logged_in(OPERATORS, username="operator")
        started = time.monotonic()
        rebuild = operator.get(reverse("admin:ops_operation", args=["rebuild_indexes"]), {"indexes": DECLARED})
        drop = operator.post(reverse("admin:ops_operation", args=["drop_indexes"]), {"indexes": DECLARED})
        waited_for_forms = time.monotonic() - started
    assert waited < 30  # bounded: without the timeout it would wait for the lock as long as it is held
    assert response.status_code == 200
    html = response.content.decode()
    assert "could not read the catalog within the lock timeout (300ms, PORTAL_INDEX_LOCK_TIMEOUT)" in html
    assert f"stocks_stock (pid {pid}, its transaction open for" in html
    assert 'id="database-indexes"' not in html
    assert api.status_code == 200
    assert (api.json()["status"], api.json()["headline"]) == ("unknown", "catalog locked")
    assert (status.status, status.headline) == ("unknown", "catalog locked")
    assert waited_for_forms < 60
    offered = rebuild.context["form"].fields["indexes"]
    assert offered.choices == [(DECLARED, DECLARED)]
    assert "The indexes can't be listed now: could not read the catalog within" in offered.help_text
    assert drop.context["form"].errors["indexes"][0].startswith("The indexes can't be checked now: could not read")
    assert not OpsRun.objects.exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('lock_timeout')")
        assert cursor.fetchone()[0] == "0"  # the connection's own setting is back
    assert 'id="database-indexes"' in viewer.get(reverse(PAGE)).content.decode()  # released: the page is whole


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_status_glance_waits_the_status_lock_timeout_not_the_index_one(settings, ops_groups):
    """The status API reads each capability in turn: under a held lock each catalog read waits 200 ms, not 20 s."""
    settings.PORTAL_INDEX_LOCK_TIMEOUT = "20s"
    settings.PORTAL_STATUS_LOCK_TIMEOUT = "200ms"
    viewer = logged_in(VIEWERS)
    with held_exclusively("stocks_stock"):
        started = time.monotonic()
        response = viewer.get("/api/ops/status/")
        waited = time.monotonic() - started
    assert waited < 15  # one read at the index timeout alone would take 20 s
    sections = response.json()["sections"]
    locked = {name: section["detail"] for name, section in sections.items() if section["headline"] == "catalog locked"}
    assert "database" in locked
    assert all("(200ms, PORTAL_STATUS_LOCK_TIMEOUT)" in detail for detail in locked.values()), locked


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_analysis_read_lists_the_checks_that_are_not_ok():
    sql(f"DROP INDEX {DECLARED}")
    section = analysis_section()
    assert section.lines[0] == f"Declared index {DECLARED} on stocks_stock (stocks.Stock) is missing."
    assert "warning: 1 declared index missing" in section.lines
