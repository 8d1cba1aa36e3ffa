"""503 while a dependency is out, never a 500: JSON under /api/, a plain page elsewhere, Retry-After on both,
from a view or from a middleware, rendered without the database and not logged per request."""

import json

import pytest
from django.conf import settings
from django.test import Client, override_settings

pytestmark = pytest.mark.urls("tests.portal.unavailable_urls")

LATE = [*settings.MIDDLEWARE[:1], "tests.portal.unavailable_urls.SavesLate", *settings.MIDDLEWARE[1:]]


@pytest.fixture
def client():
    """No database access is allowed here (no `db` fixture): the answers must not need it."""
    return Client(raise_request_exception=False)


def assert_json_503(response):
    assert response.status_code == 503
    assert response["Retry-After"] == "7"
    assert json.loads(response.content) == {
        "error": "database unavailable: circuit breaker open",
        "breaker": "database",
        "retry_after": 7,
    }


def assert_page_503(response):
    assert response.status_code == 503
    assert response["Retry-After"] == "7"
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "Temporarily unavailable" in page
    assert "reload in 7 seconds" in page
    assert "Traceback" not in page


def test_a_view_answers_503_json_under_the_api_and_a_page_elsewhere(client, caplog):
    assert_json_503(client.get("/api/ops/out/"))
    assert_page_503(client.get("/out/"))
    assert not logged(caplog)  # the breaker logs its changes; a request adds no line


@override_settings(MIDDLEWARE=LATE)
def test_a_middleware_that_needs_it_after_the_view_answers_503_too(client, caplog):
    assert_json_503(client.get("/api/ops/late/"))  # a 404 view, then the middleware fails
    assert_page_503(client.get("/late/"))
    assert not logged(caplog)


def test_other_errors_still_answer_500(client):
    response = client.get("/api/ops/broken/")
    assert response.status_code == 500
    assert json.loads(response.content) == {"error": "internal error: see the server's log"}


def logged(caplog):
    """What django.request logged (the heartbeat middleware logs its own refused beat here: no database)."""
    return [record for record in caplog.records if record.name == "django.request"]
