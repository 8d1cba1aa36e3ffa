"""The scanner API fuzzed against its own OpenAPI description, served live: schemathesis reads
/api/schema/ from a running server and sends what the schema allows and what it doesn't
(negative cases); no answer may be a 500, every answer must match the description, and what the
description forbids must be refused.

One check is left out: that every request the description allows is accepted. The rules between
parameters (a minimum above its maximum, a range of bars too long) and the opaque cursor can't be
said in OpenAPI, so a request can be valid by the description and still rightly get a 400.

The operations are driven with hypothesis here rather than by `schemathesis.pytest.from_fixture`,
whose lazy loading does not run under pytest 9.
"""

import datetime
from decimal import Decimal

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.stocks.factories import make_bars, make_stock

pytestmark = pytest.mark.django_db(transaction=True)
OPERATIONS = ["/api/stocks/", "/api/stocks/{ticker}/", "/api/stocks/{ticker}/bars/", "/api/movers/", "/api/usage/"]
FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@pytest.fixture
def live_schema(live_server, settings):
    # Limits high enough that the fuzz reaches the endpoints rather than the 429s (tested in their own right).
    settings.PORTAL_RATE_LIMITS = {**settings.PORTAL_RATE_LIMITS, "anonymous": {"minute": 10**6, "day": 10**7}}
    for ticker, cap in (("AAPL", 3_000_000), ("MSFT", 2_900_000), ("BRK.B", None)):
        stock = make_stock(ticker, market_cap=cap, last_price=Decimal("101.5"), change_percent=Decimal("-0.75"))
        make_bars(stock, datetime.date.today() - datetime.timedelta(days=10), 10)
    return schemathesis.openapi.from_url(f"{live_server.url}/api/schema/")


def test_the_description_lists_every_operation(live_schema):
    assert sorted(live_schema.raw_schema["paths"]) == sorted(OPERATIONS)


@pytest.mark.parametrize("path", OPERATIONS)
def test_every_answer_matches_the_description(live_schema, path):
    operation = live_schema[path]["GET"]

    @given(case=operation.as_strategy())
    @FUZZ
    def call(case):
        case.call_and_validate(excluded_checks=[positive_data_acceptance])

    call()
