"""The scanner API's JSON is compressed in the coding the client prefers, and nothing else is: not small
bodies, not other content, never the admin's pages (CSRF tokens) nor the ops API (fresh API tokens)."""

import gzip
import json

import brotli
import pytest
from django.conf import settings
from django.test import Client

from portal.accounts.tokens import issue_token
from portal.compression import negotiate
from tests.helpers import OPERATORS, bearer, logged_in, user_in
from tests.portal.compression_urls import ROWS
from tests.stocks.factories import make_stock

pytestmark = pytest.mark.urls("tests.portal.compression_urls")

SCREEN = "/api/compression-test/screen/"
DECODE = {"gzip": gzip.decompress, "br": brotli.decompress}


@pytest.mark.parametrize(
    ("accept_encoding", "coding"),
    [
        (None, None),  # a client that says nothing gets the body as it is
        ("", None),  # an empty value asks for no coding
        ("gzip", "gzip"),
        ("br", "br"),
        ("gzip, deflate, br, zstd", "br"),  # what browsers send: equal weights, the smaller wins
        ("GZIP;Q=1.0", "gzip"),
        ("br;q=0.5, gzip;q=0.8", "gzip"),
        ("br;q=0.9, gzip;q=0.8", "br"),
        ("gzip;q=0.5", "gzip"),  # the body as it is is acceptable too, but not preferred
        ("identity", None),
        ("gzip;q=0.5, identity", None),  # named, and preferred
        ("gzip, identity;q=0.5", "gzip"),
        ("br;q=0, gzip", "gzip"),
        ("gzip;q=0", None),
        ("br;q=0, gzip;q=0", None),
        ("*", "br"),
        ("*;q=0.1, br;q=0", "gzip"),  # gzip takes the weight of *
        ("*;q=0", None),
        ("deflate, zstd", None),  # nothing we make
        ("gzip;q=nonsense, br;q=0.2", "br"),
        ("gzip;q=2", "gzip"),  # clamped to 1
        (" , gzip ; q=0.7 ,", "gzip"),
    ],
)
def test_the_coding_is_negotiated_from_accept_encoding(accept_encoding, coding):
    assert negotiate(accept_encoding) == coding


def get(path, accept_encoding=None, *, method="get", client=None, **extra):
    if accept_encoding is not None:
        extra["HTTP_ACCEPT_ENCODING"] = accept_encoding
    return getattr(client or Client(), method)(path, **extra)


def assert_compressed(response, coding):
    assert response.status_code == 200
    assert response["Content-Encoding"] == coding
    assert response["Vary"] == "Accept-Encoding"
    assert int(response["Content-Length"]) == len(response.content)
    assert json.loads(DECODE[coding](response.content)) == {"results": ROWS}


@pytest.mark.parametrize(("accept_encoding", "coding"), [("gzip", "gzip"), ("br", "br"), ("gzip, br", "br")])
def test_a_screen_is_compressed_in_the_coding_negotiated_and_decompresses_to_the_same_json(accept_encoding, coding):
    plain = get(SCREEN)
    response = get(SCREEN, accept_encoding)
    assert_compressed(response, coding)
    assert DECODE[coding](response.content) == plain.content
    assert len(response.content) < len(plain.content) / 5


@pytest.mark.parametrize("accept_encoding", [None, "", "identity", "gzip;q=0, br;q=0", "*;q=0", "deflate"])
def test_without_an_accepted_coding_the_body_is_as_it_is_and_varies_on_accept_encoding(accept_encoding):
    response = get(SCREEN, accept_encoding)
    assert not response.has_header("Content-Encoding")
    assert response["Vary"] == "Accept-Encoding"  # a shared cache must not give it to a client that accepts gzip
    assert json.loads(response.content) == {"results": ROWS}
    assert int(response["Content-Length"]) == len(response.content)


def test_a_strong_etag_is_weakened_when_the_bytes_change():
    assert get("/api/compression-test/tagged/", "gzip")["ETag"] == 'W/"screen-1"'
    assert get("/api/compression-test/tagged/", "identity")["ETag"] == '"screen-1"'


def test_head_announces_the_same_coding_and_length_as_get():
    whole = get(SCREEN, "br")
    head = get(SCREEN, "br", method="head")
    assert head.status_code == 200
    assert head.content == b""
    assert head["Content-Encoding"] == "br"
    assert head["Content-Length"] == whole["Content-Length"]


def test_bodies_under_the_minimum_and_other_content_are_left_alone(settings):
    small = get("/api/compression-test/small/", "gzip, br")
    assert len(small.content) < settings.PORTAL_COMPRESS_MIN_BYTES
    text = get("/api/compression-test/text/", "gzip, br")
    assert len(text.content) >= settings.PORTAL_COMPRESS_MIN_BYTES
    for response in (small, text):
        assert not response.has_header("Content-Encoding")
        assert not response.has_header("Vary")  # nothing here depends on Accept-Encoding

    settings.PORTAL_COMPRESS_MIN_BYTES = 50
    assert get("/api/compression-test/small/", "gzip")["Content-Encoding"] == "gzip"


@pytest.mark.django_db
def test_the_admin_pages_with_their_csrf_token_are_never_compressed():
    response = get("/admin/", "gzip, br", client=logged_in(superuser=True, username="root"))
    assert response.status_code == 200
    assert b"csrfmiddlewaretoken" in response.content
    assert not response.has_header("Content-Encoding")


@pytest.mark.django_db
def test_the_ops_api_which_issues_tokens_is_never_compressed():
    token = issue_token(user_in(OPERATORS), "script")[1]
    response = get("/api/ops/status/", "gzip, br", **bearer(token))
    assert response.status_code == 200
    assert len(response.content) >= settings.PORTAL_COMPRESS_MIN_BYTES  # large enough to be, were it the scanner's
    assert not response.has_header("Content-Encoding")


@pytest.mark.django_db
@pytest.mark.urls("portal.urls")
def test_the_scanner_api_itself_is_compressed():
    for number in range(30):
        make_stock(f"S{number:03d}")
    screen = get("/api/stocks/?limit=30", "gzip;q=0.8, br")
    assert screen.status_code == 200
    assert screen["Content-Encoding"] == "br"
    assert len(json.loads(brotli.decompress(screen.content))["results"]) == 30
    assert get("/api/schema/", "gzip")["Content-Encoding"] == "gzip"
