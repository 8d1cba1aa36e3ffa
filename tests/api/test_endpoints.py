"""The scanner API's other endpoints, who may call it, and its errors: each one JSON, naming what is wrong."""

import datetime
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from portal.accounts.models import ApiToken
from portal.accounts.tokens import issue_token, revoke_tokens
from stocks.models import DailyBar
from tests.stocks.factories import make_bars, make_stock

pytestmark = pytest.mark.django_db
MONDAY = datetime.date(2026, 11, 23)


@pytest.fixture
def market():
    aaa = make_stock("AAA", last_price=Decimal("12"), change_percent=Decimal("3.5"))
    bbb = make_stock("BBB", last_price=Decimal("8"), change_percent=Decimal("-1.25"))
    make_stock("CCC", last_price=None, change_percent=None)
    make_bars(aaa, MONDAY, 3)
    make_bars(bbb, MONDAY, 3)
    # Wednesday: AAA 10 -> 11 (+10 %), BBB 10 -> 9.5 (-5 %)
    DailyBar.objects.filter(stock=aaa, date=MONDAY + datetime.timedelta(days=2)).update(close=Decimal("11"))
    DailyBar.objects.filter(stock=bbb, date=MONDAY + datetime.timedelta(days=2)).update(close=Decimal("9.5"))


def test_a_stock(client, market):
    stock = client.get("/api/stocks/aaa/").json()
    assert (stock["ticker"], stock["last_price"], stock["change_percent"]) == ("AAA", 12.0, 3.5)


def test_bars_between_two_days_oldest_first(client, market):
    answer = client.get("/api/stocks/AAA/bars/?start=2026-11-24&end=2026-12-31").json()
    assert answer["start"] == "2026-11-24"
    assert answer["end"] == "2026-12-31"
    assert [bar["date"] for bar in answer["bars"]] == ["2026-11-24", "2026-11-25"]
    assert answer["bars"][1] == {
        "date": "2026-11-25",
        "open": 10.0,
        "high": 11.0,
        "low": 9.0,
        "close": 11.0,
        "volume": 102,
    }


def test_movers_of_a_past_day_from_its_bars(client, market):
    up = client.get("/api/movers/?date=2026-11-25&direction=up").json()
    assert up["date"] == "2026-11-25"
    assert up["previous_date"] == "2026-11-24"
    assert [(row["ticker"], row["change_percent"], row["previous_close"]) for row in up["results"]] == [
        ("AAA", 10.0, 10.0),
        ("BBB", -5.0, 10.0),
    ]
    down = client.get("/api/movers/?date=2026-11-25&direction=down&limit=1").json()
    assert [row["ticker"] for row in down["results"]] == ["BBB"]


def test_live_movers(client, market):
    answer = client.get("/api/movers/?direction=down").json()
    assert answer["date"] is None
    assert [(row["ticker"], row["price"], row["change_percent"]) for row in answer["results"]] == [
        ("BBB", 8.0, -1.25),
        ("AAA", 12.0, 3.5),
    ]


@pytest.mark.parametrize(
    ("url", "fields"),
    [
        ("/api/stocks/?min_price=abc", {"min_price"}),
        ("/api/stocks/?min_price=-1&limit=0&order=name", {"min_price", "limit", "order"}),
        ("/api/stocks/?min_price=NaN&max_change=Infinity", {"min_price", "max_change"}),
        ("/api/stocks/?min_price=9&max_price=2&min_market_cap=9&max_market_cap=1", {"min_price", "min_market_cap"}),
        ("/api/stocks/?min_volume=99999999999999999999", {"min_volume"}),
        ("/api/stocks/?fields=ticker&fields=secret", {"fields"}),
        ("/api/stocks/?fields=ticker,name", {"fields"}),
        ("/api/stocks/?minprice=3", {"minprice"}),
        ("/api/stocks/?cursor=bm90IGEgY3Vyc29y", {"cursor"}),
        ("/api/stocks/?cursor=WyJ0aWNrZXIiLG51bGwsIkFBQSJd&order=-volume", {"cursor"}),
        ("/api/stocks/AAA/bars/?start=2026-13-01", {"start"}),
        ("/api/stocks/AAA/bars/?start=2026-11-25&end=2026-11-24", {"start"}),
        ("/api/stocks/AAA/bars/?start=2000-01-01&end=2026-01-01", {"start"}),
        ("/api/movers/?direction=sideways&limit=1000", {"direction", "limit"}),
        ("/api/movers/?date=yesterday", {"date"}),
        ("/api/stocks/AAA/?verbose=1", {"verbose"}),
    ],
)
def test_bad_parameters_are_400_naming_each(client, market, url, fields):
    response = client.get(url)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == "invalid parameters"
    assert set(body["fields"]) == fields
    assert all(messages and all(isinstance(m, str) for m in messages) for messages in body["fields"].values())


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/api/stocks/NOPE/", "no listed stock 'NOPE'"),
        ("/api/stocks/not%20a%20ticker/", "no listed stock 'not a ticker'"),
        ("/api/stocks/NOPE/bars/", "no listed stock 'NOPE'"),
        ("/api/movers/?date=2026-11-28", "no daily bars on 2026-11-28"),
        ("/api/movers/?date=2026-11-23", "no trading day before 2026-11-23 to compare with"),
        ("/api/nothing/", None),
    ],
)
def test_not_found_is_a_json_404(client, market, url, message):
    response = client.get(url)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert "error" in response.json()
    if message:
        assert response.json()["error"] == message


def test_only_get(client, market):
    response = client.post("/api/stocks/", {"x": 1})
    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"


@pytest.fixture
def member():
    return get_user_model().objects.create_user("member", password="pw-for-tests-only")


def test_callers_a_scanner_token_a_session_or_nobody(client, market, member):
    _, token = issue_token(member, "screener bot", scope=ApiToken.Scope.SCANNER)
    assert client.get("/api/usage/", HTTP_AUTHORIZATION=f"Bearer {token}").json()["tier"] == "free"
    assert client.get("/api/usage/").json()["tier"] == "anonymous"
    client.force_login(member)
    assert client.get("/api/usage/").json()["tier"] == "free"


@pytest.mark.parametrize("kind", ["ops token", "revoked", "malformed", "unknown"])
def test_credentials_that_cant_be_used_are_refused_not_taken_as_anonymous(client, market, member, kind):
    if kind == "ops token":
        header, status = f"Bearer {issue_token(member, 'deploy', scope=ApiToken.Scope.OPS)[1]}", 403
    elif kind == "revoked":
        record, token = issue_token(member, "old", scope=ApiToken.Scope.SCANNER)
        revoke_tokens(ApiToken.objects.filter(pk=record.pk))
        header, status = f"Bearer {token}", 401
    else:
        header, status = ("Bearer a b", 401) if kind == "malformed" else ("Bearer abc.def", 401)
    response = client.get("/api/stocks/", HTTP_AUTHORIZATION=header)
    assert response.status_code == status
    assert set(response.json()) == {"error"}


def test_the_schema_and_its_page(client):
    schema = client.get("/api/schema/").json()
    assert schema["openapi"].startswith("3.")
    assert {
        "/api/stocks/",
        "/api/stocks/{ticker}/",
        "/api/stocks/{ticker}/bars/",
        "/api/movers/",
        "/api/usage/",
    } <= set(schema["paths"])
    page = client.get("/api/docs/")
    assert page.status_code == 200
    assert b"/api/schema/" in page.content
    assert b"cdn" not in page.content.lower()


def test_usage_as_the_issue_shows_it_and_says_when_nothing_is_counted(client, settings):
    client.get("/api/stocks/")
    assert client.get("/api/usage/").json() == {
        "tier": "anonymous",
        "limits": {"minute": 20, "day": 500},
        "remaining": {"minute": 19, "day": 499},
    }
    settings.PORTAL_RATE_LIMIT_STORAGE = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    assert client.get("/api/usage/").json()["enforced"] is False
