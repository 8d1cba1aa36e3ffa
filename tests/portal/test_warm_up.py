"""The master's warm-up serves the everyday pages and keeps nothing: no row written, no heartbeat; its first
failure ends it with one logged line."""

import logging
import threading

import pytest
from django.apps import apps

from opsadmin.runtime import heartbeat
from portal.warm_up import EVERYDAY_PAGES, warm_up

pytestmark = pytest.mark.django_db(transaction=True)


def rows():
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


@pytest.mark.parametrize(("otp_required", "https"), [(False, False), (True, False), (True, True)])
def test_the_everyday_pages_render_and_nothing_is_kept(caplog, settings, otp_required, https):
    settings.PORTAL_OTP_REQUIRED = otp_required  # its in-memory superuser has no second factor to give
    # Behind the TLS proxy plain HTTP is redirected: the warm-up's requests come as HTTPS.
    settings.PORTAL_HTTPS = settings.SECURE_SSL_REDIRECT = https
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if https else None
    before, threads = rows(), threading.active_count()
    with caplog.at_level(logging.INFO, logger="portal.warm_up"):
        assert warm_up(EVERYDAY_PAGES) == len(EVERYDAY_PAGES)
    assert rows() == before
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("ops-process")]
    assert heartbeat._last_beat is None  # the middleware saw requests no server sent: no beat
    assert threading.active_count() - threads <= 16  # at most the readiness pool's threads, never a beating one
    assert f"warm-up: {len(EVERYDAY_PAGES)} pages served" in caplog.text


def test_the_first_failure_ends_it_with_one_line(caplog):
    before = rows()
    with caplog.at_level(logging.INFO, logger="portal.warm_up"):
        assert warm_up(["/admin/", "/no/such/page/", "/api/ops/runs/"]) == 1
    assert rows() == before
    (record,) = [record for record in caplog.records if record.name == "portal.warm_up"]
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith("warm-up stopped after 1 of 3 pages: ")
