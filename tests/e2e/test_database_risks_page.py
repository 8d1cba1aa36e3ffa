"""The slow dangers page in a browser, as an operator sees it with some dangers past their line.

PostgreSQL only, unlike the other pages' browser tests: on SQLite the page has nothing to show but
that it needs PostgreSQL (tests/opsadmin/database_risks covers that). The dangers are the tests'
schema (tests/opsadmin/database_risks/fixtures.py): sequences near their limit, a NOT VALID
constraint, a bloated table with autovacuum disabled; bloat is warned from 1 KiB here.
"""

import pytest

from opsadmin.operations.database_risks import health_check
from tests.opsadmin.database_risks import fixtures

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or, in CI, fails) with the reason
    expect = None

pytestmark = pytest.mark.postgres


@pytest.fixture
def risky(transactional_db, settings):
    settings.PORTAL_BLOAT_MIN_BYTES = 1024
    health_check.forget()
    fixtures.build()
    yield
    fixtures.drop()
    health_check.forget()


def test_an_operator_reads_the_dangers_problems_first(page, user_in, log_in, screenshot, risky):
    log_in(user_in("Ops operators"))
    page.get_by_role("link", name="Wraparound, sequences and bloat").click()
    overview = page.locator("#risks-overview")
    expect(page.locator("#risks-summary")).to_contain_text("4 slow dangers past their line")
    expect(overview.locator('[data-danger="sequences"]')).to_contain_text("2,100,000,000 of 2,147,483,647 (97.8 %)")
    expect(overview.locator('[data-danger="constraints"]')).to_contain_text("positive_id NOT VALID")
    expect(overview.locator('[data-danger="vacuum"]')).to_contain_text(
        '"risk zone"."Bloated Table": autovacuum disabled'
    )
    expect(overview.locator('[data-danger="bloat"]')).to_contain_text('table "risk zone"."Bloated Table": about')
    expect(page.locator('#risks-sequences tr[data-sequence="\\"risk zone\\".narrow_seq"]')).to_contain_text("93.1 %")
    expect(page.locator('#risks-vacuum tr[data-table="\\"risk zone\\".\\"Bloated Table\\""]')).to_contain_text(
        "disabled"
    )
    expect(page.locator("#risks-replication-none")).to_have_text("None: no replication slots and no replicas.")
    expect(page.locator("#risks-raw pre")).not_to_be_visible()  # raw JSON only behind its toggle
    screenshot("dangers")
    page.locator("#risks-raw summary").click()
    expect(page.locator("#risks-raw pre")).to_be_visible()
