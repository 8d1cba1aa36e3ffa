"""The slow dangers on real PostgreSQL, against a schema built for them (fixtures.py), and on SQLite.

The figures are compared with the catalog's own answers; thresholds that take years to reach
(wraparound) are tested by lowering the setting between the figures of two real tables.
"""

import time

import pytest
from django.db import connection, transaction
from django.test import override_settings
from health_check.exceptions import ServiceWarning

from opsadmin.operations.database_risks import dangers, health_check, sections
from opsadmin.operations.database_risks.health_check import SlowDanger
from opsadmin.spine.results import OK, WARNING
from tests.helpers import VIEWERS, logged_in, sql
from tests.opsadmin.database_risks import fixtures
from tests.opsadmin.database_risks.fixtures import BLOATED, INT4_MAX, INT8_MAX, SCHEMA, Q

SLOT = "risks_test_slot"


@pytest.fixture(autouse=True)
def _fresh_checks():
    health_check.forget()
    yield
    health_check.forget()


@pytest.fixture
def risky(transactional_db):
    fixtures.build()
    yield
    fixtures.drop()


def by(rows, **wanted):
    return next(row for row in rows if all(getattr(row, name) == value for name, value in wanted.items()))


# --- PostgreSQL ------------------------------------------------------------------------------


@pytest.mark.postgres
def test_wraparound_ages_are_the_catalogs_and_the_threshold_sits_between_two_tables(risky):
    for _ in range(25):  # 25 transactions with an xid each: "thawed" ages, then "Frozen" is frozen
        sql("SELECT txid_current()")
    sql(f'VACUUM FREEZE {Q}."Frozen"')
    with transaction.atomic():  # age() is stable within a transaction
        found = dangers.wraparound()
        catalog_ages = dict(
            sql(
                "SELECT c.relname, greatest(age(c.relfrozenxid), age(t.relfrozenxid)) FROM pg_class c"
                " LEFT JOIN pg_class t ON t.oid = c.reltoastrelid"
                f" WHERE c.relnamespace = '{Q}'::regnamespace AND c.relkind = 'r'"
            )
        )
        database_age = sql(
            "SELECT age(datfrozenxid), mxid_age(datminmxid) FROM pg_database WHERE datname = current_database()"
        )[0]
        freeze_max_age = int(sql("SHOW autovacuum_freeze_max_age")[0][0])
    tables = {row.table: row for row in found.data.tables if row.schema == SCHEMA}
    assert {name: row.xid_age for name, row in tables.items()} == catalog_ages
    frozen, thawed = tables["Frozen"], tables["thawed"]
    assert frozen.qualified == '"risk zone"."Frozen"'
    assert thawed.qualified == '"risk zone".thawed'
    assert frozen.xid_age < thawed.xid_age
    assert thawed.xid_age >= 25
    assert thawed.xid_percent == pytest.approx(thawed.xid_age * 100 / freeze_max_age)
    here = by(found.data.databases, database=connection.settings_dict["NAME"])
    assert (here.xid_age, here.multixact_age) == database_age
    assert found.data.limits.freeze_max_age == freeze_max_age
    assert found.status == OK  # nothing is near autovacuum_freeze_max_age on a fresh server

    between = (frozen.xid_age + thawed.xid_age) / 2 * 100 / freeze_max_age
    with override_settings(PORTAL_WRAPAROUND_WARN_PERCENT=between), transaction.atomic():
        found = dangers.wraparound()
    assert found.status == WARNING
    assert any(line.startswith('"risk zone".thawed: xid age') for line in found.found)
    assert not any(line.startswith('"risk zone"."Frozen"') for line in found.found)


@pytest.mark.postgres
def test_sequences_near_their_limit_with_the_right_percent(risky):
    found = dangers.sequences()
    rows = {row.sequence: row for row in found.data.sequences if row.schema == SCHEMA}
    small, big, narrow = rows["small_ids_id_seq"], rows["big_ids_id_seq"], rows["narrow_seq"]
    assert (small.data_type, small.limit, small.column, small.column_type) == (
        "integer",
        INT4_MAX,
        '"risk zone".small_ids.id',
        "integer",
    )
    assert small.used_percent == pytest.approx(fixtures.SERIAL_AT * 100 / INT4_MAX)  # 97.8 %
    assert (big.data_type, big.limit) == ("bigint", INT8_MAX)
    assert big.used_percent == pytest.approx(fixtures.BIGSERIAL_AT * 100 / INT8_MAX)  # 97.6 %
    # A bigint sequence owning an integer column stops at the column's maximum, not its own.
    assert (narrow.data_type, narrow.column_type, narrow.limit) == ("bigint", "integer", INT4_MAX)
    assert narrow.used_percent == pytest.approx(fixtures.NARROW_AT * 100 / INT4_MAX)  # 93.1 %
    assert found.status == WARNING
    assert '"risk zone".small_ids_id_seq: 2,100,000,000 of 2,147,483,647 (97.8 %), integer' in found.found
    assert '"risk zone".big_ids_id_seq: 9,000,000,000,000,000,000 of 9,223,372,036,854,775,807 (97.6 %), bigint' in (
        found.found
    )
    assert (
        '"risk zone".narrow_seq: 2,000,000,000 of 2,147,483,647 (93.1 %),'
        ' capped by integer column "risk zone".narrow.id' in found.found
    )
    with override_settings(PORTAL_SEQUENCE_WARN_PERCENT=95):
        assert [line.split(":")[0] for line in dangers.sequences().found] == [
            '"risk zone".small_ids_id_seq',
            '"risk zone".big_ids_id_seq',
        ]


@pytest.mark.postgres
def test_a_not_valid_constraint_is_listed_with_its_schema(risky):
    found = dangers.constraints()
    row = by(found.data, name="positive_id")
    assert (row.schema, row.table, row.kind, row.definition) == (
        SCHEMA,
        "thawed",
        "check",
        "CHECK ((id > 0)) NOT VALID",
    )
    assert found.status == WARNING
    assert found.headline == "1 constraint"
    sql(f"ALTER TABLE {Q}.thawed VALIDATE CONSTRAINT positive_id")
    assert dangers.constraints().status == OK


@pytest.mark.postgres
def test_a_bloated_table_shows_dead_rows_an_estimate_above_zero_and_autovacuum_disabled(risky):
    vacuum = dangers.vacuum()
    row = by(vacuum.data.tables, schema=SCHEMA, table="Bloated Table")
    assert row.qualified == BLOATED
    assert not row.autovacuum_enabled
    assert (row.live_rows, row.dead_rows) == (2_000, 18_000)  # 18,000 of 20,000 deleted
    assert row.dead_percent == pytest.approx(90)
    assert vacuum.status == WARNING
    assert f"{BLOATED}: autovacuum disabled (autovacuum_enabled=false)" in vacuum.found
    assert any(line.startswith(f"{BLOATED}: ") and "dead rows" in line for line in vacuum.found)
    assert by(vacuum.data.tables, schema=SCHEMA, table="thawed").autovacuum_enabled

    bloat = dangers.bloat()
    estimate = by(bloat.data.estimates, schema=SCHEMA, table="Bloated Table", kind="table")
    size = sql(f"SELECT pg_relation_size('{BLOATED}')")[0][0]
    assert estimate.size_bytes == size
    assert 0 < estimate.wasted_bytes < size
    assert estimate.wasted_percent > 50
    assert bloat.status == OK  # under the 100 MiB default
    with override_settings(PORTAL_BLOAT_MIN_BYTES=estimate.wasted_bytes, PORTAL_BLOAT_MIN_PERCENT=50):
        bloat = dangers.bloat()
    assert bloat.status == WARNING
    assert bloat.found[0].startswith(f"table {BLOATED}: about ")


@pytest.mark.postgres
def test_settings_say_autovacuum_is_on_and_the_memory_is_unknown_or_from_the_setting(db, settings):
    settings.PORTAL_DATABASE_MEMORY = 16 * 1024**3
    found = dangers.server_settings()
    assert found.status == OK
    assert found.data.autovacuum
    assert found.data.memory.source == "PORTAL_DATABASE_MEMORY"
    advice = {item.name: item for item in found.data.advice}
    assert advice["shared_buffers"].advised == "4.0 GiB"
    assert advice["effective_cache_size"].advised == "12.0 GiB"
    assert advice["maintenance_work_mem"].advised == "1.0 GiB"
    assert advice["random_page_cost"].verdict == "not judged"
    settings.PORTAL_DATABASE_MEMORY = None
    connection.settings_dict["HOST"], host = "db.example.com", connection.settings_dict["HOST"]
    try:
        found = dangers.server_settings()
    finally:
        connection.settings_dict["HOST"] = host
    assert found.data.memory.bytes is None
    assert found.data.memory.source.startswith("unknown")
    assert {item.verdict for item in found.data.advice} == {"not judged"}


@pytest.mark.postgres
def test_behind_a_transaction_pooler_a_role_without_statement_timeout_is_a_danger(db, monkeypatch):
    monkeypatch.setitem(connection.settings_dict, "TRANSACTION_POOLING", False)
    assert dangers.server_settings().data.pooled_statement_timeout is None  # direct: the portal sends its own
    monkeypatch.setitem(connection.settings_dict, "TRANSACTION_POOLING", True)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = 0")  # the test's transaction: as a role without one
        found = dangers.server_settings()
        assert found.status == WARNING
        assert found.data.pooled_statement_timeout == "0"
        assert found.found[-1].startswith("statement_timeout is 0 for the pooled role")
        cursor.execute("SET LOCAL statement_timeout = '8s'")
        found = dangers.server_settings()
    assert found.data.pooled_statement_timeout == "8s"
    assert not [line for line in found.found if "statement_timeout" in line]


@pytest.mark.postgres
def test_replication_none_then_an_inactive_physical_slot(transactional_db):
    found = dangers.replication()
    assert (found.status, found.headline) == (OK, "no replication slots and no replicas")
    sql(f"SELECT pg_create_physical_replication_slot('{SLOT}', true)")
    try:
        found = dangers.replication()
    finally:
        sql(f"SELECT pg_drop_replication_slot('{SLOT}')")
    slot = by(found.data.slots, name=SLOT)
    assert (slot.kind, slot.active, slot.retained_bytes is not None) == ("physical", False, True)
    assert found.status == WARNING
    assert found.found[0].startswith(f"slot {SLOT} (physical) inactive, holding ")


@pytest.mark.postgres
def test_an_inactive_logical_slot_where_wal_level_permits(transactional_db):
    wal_level = sql("SHOW wal_level")[0][0]
    if wal_level != "logical":
        pytest.skip(f"wal_level is {wal_level}: a logical slot needs wal_level=logical (the physical one is tested)")
    sql(f"SELECT pg_create_logical_replication_slot('{SLOT}', 'test_decoding')")
    try:
        slot = by(dangers.replication().data.slots, name=SLOT)
    finally:
        sql(f"SELECT pg_drop_replication_slot('{SLOT}')")
    assert (slot.kind, slot.active) == ("logical", False)


@pytest.mark.postgres
def test_the_doors_warn_and_readiness_stays_ok(risky, client):
    sections_found = sections.everything()
    assert sections_found.status == WARNING
    assert "Sequences near their limit: " in "\n".join(sections_found.lines)
    with pytest.raises(ServiceWarning, match="3 sequences"):
        SlowDanger(danger="sequences").run()
    with pytest.raises(ServiceWarning, match="1 constraint"):
        SlowDanger(danger="constraints").run()
    SlowDanger(danger="replication").run()  # none: passes
    ready = client.get("/health/ready/")
    assert (ready.status_code, ready.json()) == (200, {"status": "ok"})
    api = logged_in(permissions=["view_ops"]).get("/api/ops/database_risks/sequences/")
    assert api.status_code == 200
    assert api.json()["status"] == WARNING
    assert any('"risk zone".narrow_seq' in line for line in api.json()["lines"])
    page = logged_in(username="viewer", permissions=["view_ops"]).get("/admin/ops/database_risks/")
    text = page.content.decode()
    assert page.status_code == 200
    assert text.index('id="risks-overview"') < text.index('id="wraparound"')
    assert "2,100,000,000" in text
    assert "97.8 %" in text
    assert "positive_id" in text
    assert "None: no replication slots and no replicas." in text


# --- SQLite ----------------------------------------------------------------------------------


@pytest.mark.sqlite
def test_on_sqlite_reads_say_unsupported_the_checks_pass_and_the_page_says_why(db):
    for read in (sections.everything, sections.wraparound, sections.bloat, sections.replication):
        found = read()
        assert (found.status, found.headline) == (OK, "unsupported on sqlite")
    for name in dangers.DANGERS:
        SlowDanger(danger=name).run()  # nothing to check: passes
    page = logged_in(permissions=["view_ops"]).get("/admin/ops/database_risks/")
    assert page.status_code == 200
    assert "These checks need PostgreSQL" in page.content.decode()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # the reading session must not hold locks the other one waits for
def test_a_table_held_exclusively_makes_the_reads_say_catalog_locked_within_the_lock_timeout(settings, ops_groups):
    from tests.opsadmin.database.test_page import held_exclusively

    settings.PORTAL_INDEX_LOCK_TIMEOUT = "300ms"
    with held_exclusively("stocks_stock") as pid:
        started = time.monotonic()
        everything = sections.everything()
        wraparound = sections.wraparound()
        page = logged_in(VIEWERS).get("/admin/ops/database_risks/").content.decode()
        with pytest.raises(ServiceWarning, match="wraparound unknown: catalog locked"):
            SlowDanger(danger="wraparound").run()
        waited = time.monotonic() - started
    assert waited < 30  # without the timeout every read would wait as long as the lock is held
    assert (everything.status, everything.headline) == ("unknown", "catalog locked")
    assert (wraparound.status, wraparound.headline) == ("unknown", "catalog locked")
    assert f"stocks_stock (pid {pid}" in everything.detail
    assert 'id="risks-locked"' in page
