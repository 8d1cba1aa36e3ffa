"""The index advisor never runs another role's code, nor code that is not built in (PostgreSQL).

Planning a statement can run a function: the planner folds an immutable one while it
plans, and an immutable function may call a volatile one that writes. Each test plants
such a function, has pg_stat_statements record a statement calling it, then opens the
Database page or asks for suggestions, and checks the function never ran: no row
written, no notice raised. A function the check cannot see runs read-only, so it cannot
write either; and the check finds what it looks for however it is spelled.
"""

import pytest
from django.db import connection
from django.urls import reverse

from opsadmin.operations.database import plan_safety, suggestions
from opsadmin.operations.database.analysis import analyze_database
from stocks.seeding import seed_stocks
from tests.helpers import VIEWERS, logged_in, sql
from tests.opsadmin.database.extensions import require_extensions

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

CALLS = 3  # the slow-query threshold in these tests
INTRUDER = "advisor_intruder"


@pytest.fixture
def advisor(settings):
    """Both extensions, every statement called CALLS times slow enough, and pg_stat_statements emptied."""
    require_extensions(suggestions.PG_STAT_STATEMENTS, suggestions.HYPOPG)
    settings.PORTAL_SLOW_QUERY_MIN_CALLS, settings.PORTAL_SLOW_QUERY_MIN_MEAN_MS = CALLS, 0
    sql("SELECT pg_stat_statements_reset()")


def plant(prefix, owner=None):
    """`<prefix>_folded()`: immutable, so planning runs it, and it writes a row into `<prefix>_rows`.

    Returns a statement calling it; `owner` gets the table and the functions.
    """
    sql(
        f"CREATE TABLE {prefix}_rows (id serial PRIMARY KEY, note text)",
        f"""CREATE FUNCTION {prefix}_write() RETURNS int LANGUAGE plpgsql VOLATILE AS $$
            BEGIN RAISE NOTICE '{prefix} ran'; INSERT INTO {prefix}_rows (note) VALUES ('ran'); RETURN 1; END $$""",
        f"""CREATE FUNCTION {prefix}_folded() RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
            BEGIN RETURN {prefix}_write(); END $$""",
    )
    if owner:
        sql(
            f"ALTER TABLE {prefix}_rows OWNER TO {owner}",
            f"ALTER FUNCTION {prefix}_write() OWNER TO {owner}",
            f"ALTER FUNCTION {prefix}_folded() OWNER TO {owner}",
        )
    return f"SELECT note FROM {prefix}_rows WHERE id = {prefix}_folded()"


def run(statement, *, role=None):
    """Run `statement` CALLS times, as `role` if given: pg_stat_statements records it as that role's."""
    with connection.cursor() as cursor:
        if role:
            cursor.execute(f"SET ROLE {role}")
        for _ in range(CALLS):
            cursor.execute(statement)
        cursor.execute("RESET ROLE")


def rows(prefix):
    return sql(f"SELECT count(*) FROM {prefix}_rows")[0][0]


def notices():
    """The notices this session received (psycopg keeps them), forgotten once read."""
    received = list(connection.connection.notices)
    connection.connection.notices.clear()
    return received


def recorded_as(statement):
    """The roles pg_stat_statements recorded `statement` for."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT userid::regrole::text FROM pg_stat_statements WHERE query = %s", [statement])
        return {role for (role,) in cursor.fetchall()}


def test_another_roles_statement_is_neither_listed_nor_planned(advisor):
    sql(f"CREATE ROLE {INTRUDER}")  # rolled back with the test
    statement = plant("intruder", owner=INTRUDER)
    run(statement, role=INTRUDER)
    assert recorded_as(statement) == {INTRUDER}
    written, _ = rows("intruder"), notices()
    assert written >= CALLS  # running it runs the function: planning it would too

    page = logged_in(VIEWERS).get(reverse("admin:ops_database")).content.decode()
    analysis = analyze_database()
    found = suggestions.suggest_indexes()

    assert (rows("intruder"), notices()) == (written, [])
    assert "intruder_folded" not in page
    assert not [slow for slow in analysis.slow_queries if "intruder" in slow.query]
    assert not [line for line in analysis.advice if "intruder" in line]
    assert not [suggestion for suggestion in found if "intruder" in suggestion.query]


def test_our_statement_calling_a_function_that_is_not_built_in_is_listed_but_never_planned(advisor):
    statement = plant("ours")
    run(statement)
    written, _ = rows("ours"), notices()

    analysis = analyze_database()
    assert suggestions.suggest_indexes() == suggestions.suggest_indexes([statement]) == []

    assert (rows("ours"), notices()) == (written, [])
    (listed,) = [slow for slow in analysis.slow_queries if slow.query == statement]
    assert listed.not_planned == "calls function public.ours_folded, which is not built in"
    assert f"Index suggestions skip a slow query because it {listed.not_planned}: {statement}" in analysis.advice


def test_a_function_the_check_cannot_see_cannot_write_and_a_failed_plan_leaves_nothing_behind(advisor):
    """table_to_xml reads a relation given by oid: planning folds it, and the view's function runs, read-only."""
    seed_stocks(stocks=40, days=500, seed=1)  # 20,000 bars, ANALYZEd: a seq scan costs a few hundred
    plant("hidden")
    sql("CREATE VIEW hidden_view AS SELECT hidden_write() AS ran")
    (oid,) = sql("SELECT 'hidden_view'::regclass::oid")[0]
    hidden = f"SELECT note FROM hidden_rows WHERE id = length(table_to_xml({oid}, false, false, '')::text)"
    plain = "SELECT id, date, close FROM stocks_dailybar WHERE volume = $1"
    notices()

    (suggestion,) = suggestions.suggest_indexes([hidden, plain])

    assert suggestion.query == plain  # the failed plan skipped its statement only
    assert any("hidden ran" in notice for notice in notices())  # it ran while planning...
    assert rows("hidden") == 0  # ...and could not write
    assert sql("SELECT count(*) FROM pg_prepared_statements")[0][0] == 0
    assert sql("SELECT count(*) FROM hypopg_list_indexes")[0][0] == 0
    assert sql("SHOW transaction_read_only")[0][0] == "off"
    assert sql("SHOW plan_cache_mode")[0][0] == "auto"


def test_the_check_finds_code_however_it_is_named():
    long_name = "planted_" + "x" * 55  # 63 bytes: PostgreSQL cuts longer names to this
    sql(
        """CREATE FUNCTION "Shouting"() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 1'""",
        f"CREATE FUNCTION {long_name}() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 1'",
        "CREATE FUNCTION like_varchar(varchar, varchar) RETURNS bool LANGUAGE sql IMMUTABLE AS 'SELECT true'",
        "CREATE OPERATOR public.~~ (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = like_varchar)",
        "CREATE VIEW some_view AS SELECT 1 AS one",
    )
    statements = {
        'SELECT * FROM stocks_stock WHERE id = "SHOUTING"()': 'calls function public."Shouting"',
        f"SELECT * FROM stocks_stock WHERE id = {long_name}_and_more()": f"calls function public.{long_name}",
        "SELECT * FROM stocks_stock WHERE ticker LIKE $1": "uses operator public.~~",
        "SELECT * FROM stocks_stock WHERE ticker ~~ $1": "uses operator public.~~",
        "SELECT * FROM some_view": "reads view public.some_view",
        'SELECT * FROM U&"\\0073ome_view"': "names something with Unicode escapes",
    }
    plain = "SELECT * FROM stocks_stock WHERE ticker = $1 ORDER BY name"
    reasons = plan_safety.reasons_not_to_plan([*statements, plain])
    assert plain not in reasons
    assert {statement: reasons[statement][: len(start)] for statement, start in statements.items()} == statements
