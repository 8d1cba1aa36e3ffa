"""The market-data change lists: they render, search by ticker, and never COUNT(*) a big table."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from stocks.models import DailyBar, Membership, Stock
from stocks.pagination import EstimatedCountPaginator
from tests.stocks.factories import make_bars, make_stock

pytestmark = pytest.mark.django_db


@pytest.fixture
def market():
    apple = make_stock("AAPL", name="Apple Inc.")
    make_stock("AAL", name="American Airlines")
    make_stock("MSFT", name="Microsoft")
    make_bars(apple, datetime.date(2026, 3, 2), 3)
    return apple


def changelist(client, model, **params):
    return client.get(reverse(f"admin:stocks_{model._meta.model_name}_changelist"), params)


@pytest.mark.parametrize("model", [Stock, DailyBar, Membership])
def test_change_lists_render_for_staff(admin_client, market, model):
    assert changelist(admin_client, model).status_code == 200


def test_anonymous_users_are_sent_to_login(client):
    response = changelist(client, Stock)
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def result_tickers(response):
    return [str(obj) for obj in response.context["cl"].result_list]


def test_stock_search_by_ticker_prefix_is_case_insensitive(admin_client, market):
    assert result_tickers(changelist(admin_client, Stock, q="aa")) == ["AAL", "AAPL"]


def test_stock_search_falls_back_to_the_name(admin_client, market):
    assert result_tickers(changelist(admin_client, Stock, q="soft")) == ["MSFT"]
    assert result_tickers(changelist(admin_client, Stock, q="american air")) == ["AAL"]


def test_bar_search_by_ticker_shows_that_stocks_bars_newest_first(admin_client, market):
    response = changelist(admin_client, DailyBar, q="aapl")
    assert [bar.date.day for bar in response.context["cl"].result_list] == [4, 3, 2]
    assert result_tickers(changelist(admin_client, DailyBar, q="not a ticker!")) == []


def test_bar_change_list_selects_the_stock_in_the_same_query(admin_client, market):
    with CaptureQueriesContext(connection) as queries:
        changelist(admin_client, DailyBar)
    bar_queries = [q["sql"] for q in queries if 'FROM "stocks_dailybar"' in q["sql"]]
    assert any('INNER JOIN "stocks_stock"' in sql for sql in bar_queries)
    assert not any('FROM "stocks_stock"' in q["sql"] and "WHERE" in q["sql"] and "IN (" in q["sql"] for q in queries)


class EstimateAlways(EstimatedCountPaginator):
    exact_count_below = 0


@pytest.mark.postgres
def test_paginator_counts_from_the_planner_on_postgresql(market):
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE stocks_dailybar")
    with CaptureQueriesContext(connection) as queries:
        count = EstimateAlways(DailyBar.objects.all(), 100).count
    assert count >= 1
    assert [q["sql"].split(" ")[0] for q in queries] == ["EXPLAIN"]


@pytest.mark.sqlite
def test_paginator_counts_exactly_elsewhere(market):
    assert EstimateAlways(DailyBar.objects.all(), 100).count == 3


@pytest.mark.postgres
def test_ticker_search_can_use_an_index_on_postgresql(admin_client, market):
    response = changelist(admin_client, Stock, q="aa")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    assert "Index" in response.context["cl"].queryset.explain()
