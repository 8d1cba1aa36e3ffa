"""Cache operations through their doors: the Caches page, the Stock action, `clear_cache`, the API."""

from io import StringIO

import pytest
from django.core.cache import caches
from django.core.management import CommandError, call_command
from django.urls import reverse

from opsadmin.models import OpsRun
from stocks.cache_keys import stock_snapshot_key
from stocks.cached import stock_snapshot
from tests.helpers import OPERATORS, VIEWERS, client_for, logged_in, post_json, user_in
from tests.opsadmin.caches.conftest import UNRELATED, fill
from tests.stocks.factories import make_stock

pytestmark = pytest.mark.django_db


def test_caches_page_shows_each_alias_with_its_redis_numbers(raw):
    fill("default", 7)
    page = logged_in(VIEWERS).get(reverse("admin:ops_caches"))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-alias="default"' in html
    assert 'data-alias="ratelimit"' in html
    assert "Sessions are not kept in a cache" in html
    default = next(panel for panel in page.context["panels"] if panel.alias == "default")
    assert default.redis.keys_under_prefix == 7
    assert default.shared_with == ["ratelimit"]


def test_caches_page_needs_view_ops(client):
    url = reverse("admin:ops_caches")
    assert client.get(url).status_code == 302
    assert logged_in(username="staff").get(url).status_code == 403


@pytest.mark.django_db(transaction=True)  # the run is queued on commit, and the worker runs it
def test_clearing_an_alias_from_the_operation_page_leaves_the_rest(raw):
    fill("default", 20)
    fill("ratelimit", 5)
    client = client_for(user_in(superuser=True, username="root"))  # groups are flushed here
    url = reverse("admin:ops_operation", args=["clear_cache"])
    asked = client.post(url, {"alias": "default"})
    assert "20 keys under its prefix now" in asked.content.decode()  # what will happen, before it does
    assert not OpsRun.objects.exists()
    response = client.post(url, {"alias": "default", "confirmed": "yes"})
    run = OpsRun.objects.get()
    assert response.status_code == 302
    assert (run.operation, run.door, run.status) == ("clear_cache", "admin", "queued")  # Redis: the worker clears
    call_command("ops_worker", "--batch", stdout=StringIO(), stderr=StringIO())
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert run.result["keys_deleted"] == 20
    assert raw.dbsize() == 5 + len(UNRELATED)


def test_flush_needs_the_database_number_typed_on_the_page_that_shows_it(raw):
    fill("default", 3)
    client = logged_in(OPERATORS)
    url = reverse("admin:ops_operation", args=["flush_redis_db"])
    linked = client.get(url, {"alias": "default", "confirm": "0"}).content.decode()
    assert 'name="confirm"' not in linked  # a link can't type it for anyone
    shown = client.post(url, {"alias": "default", "confirm": "0"}).content.decode()
    assert f"{3 + len(UNRELATED)} keys in database 0 (counted)" in shown  # the size, and every kind of key there
    for kind in ("default (scanner:1:*): 3 keys", "no alias: scanner:*: 2 keys", "no alias: unrelated: 1 key"):
        assert kind in shown
    assert 'name="confirm"' in shown
    assert raw.dbsize() == 3 + len(UNRELATED)
    refused = client.post(url, {"alias": "default", "confirm": "1", "confirmed": "yes"})
    assert "Type the database number 0 to confirm" in refused.content.decode()
    assert raw.dbsize() == 3 + len(UNRELATED)
    client.post(url, {"alias": "default", "confirm": "0", "confirmed": "yes"})
    assert raw.dbsize() == 0


def test_api_lists_caches_and_clears_by_pattern(raw):
    caches["default"].set_many({"stock:AAPL:snapshot": 1, "stock:MSFT:snapshot": 2, "screen:top": 3})
    client = logged_in(OPERATORS)
    listed = client.get("/api/ops/caches/").json()["caches"]
    assert {panel["alias"] for panel in listed} == {"default", "ratelimit"}
    response = post_json(client, "/api/ops/caches/clear/", {"alias": "default", "pattern": "stock:*", "dry_run": True})
    assert response.status_code == 202
    bad = post_json(client, "/api/ops/caches/clear/", {"alias": "default", "pattern": "[x"})
    assert bad.status_code == 400
    assert "pattern" in bad.json()["fields"]
    assert logged_in(VIEWERS, username="viewer").post("/api/ops/caches/clear/").status_code == 403


def test_command_clears_one_alias_or_all_and_refuses_a_bare_flush(raw):
    fill("default", 4)
    fill("ratelimit", 6)
    out = StringIO()
    call_command("clear_cache", "--alias", "ratelimit", stdout=out, stderr=StringIO())
    assert "Deleted 6 keys of ratelimit" in out.getvalue()
    with pytest.raises(CommandError, match="add --yes") as refused:
        call_command("clear_cache", "--flush")
    assert refused.value.returncode == 2
    call_command("clear_cache", "--all", stdout=StringIO(), stderr=StringIO())
    assert raw.dbsize() == len(UNRELATED)
    assert OpsRun.objects.filter(operation="clear_cache", door="cli").count() == 3


def test_command_bad_pattern_exits_2_and_deletes_nothing(raw):
    fill("default", 2)
    with pytest.raises(CommandError, match="pattern") as error:
        call_command("clear_cache", "--pattern", "[abc")
    assert error.value.returncode == 2
    assert raw.dbsize() == 2 + len(UNRELATED)


def test_stock_action_invalidates_only_the_selected_stocks(raw):
    apple, _ = make_stock("AAPL"), make_stock("MSFT")
    stock_snapshot("AAPL"), stock_snapshot("MSFT")
    client = logged_in(OPERATORS)
    client.post(
        reverse("admin:stocks_stock_changelist"),
        {"action": "invalidate_cached_data", "_selected_action": [apple.pk], "index": 0},
    )
    assert caches["default"].get(stock_snapshot_key("AAPL")) is None
    assert caches["default"].get(stock_snapshot_key("MSFT")) is not None
    assert OpsRun.objects.get().operation == "invalidate_stocks"


def test_viewers_get_no_invalidate_action():
    page = logged_in(VIEWERS).get(reverse("admin:stocks_stock_changelist"))
    assert page.status_code == 200
    assert "invalidate_cached_data" not in page.content.decode()
