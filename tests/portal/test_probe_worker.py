"""The probe worker's own part of gunicorn's graceful exit: on SIGTERM the worker leaves the fleet at once."""

import signal
from types import SimpleNamespace

import pytest

from opsadmin.runtime import heartbeat

pytestmark = pytest.mark.posix  # gunicorn's workers are POSIX serving


@pytest.fixture(autouse=True)
def fresh_heartbeat():
    heartbeat.reset()
    yield
    heartbeat.reset()


@pytest.mark.django_db
def test_sigterm_stops_the_worker_and_takes_it_out_of_the_fleet():
    from portal.probe_worker import ProbeThreadWorker

    assert heartbeat.record_heartbeat("web-1", "8000") is True

    deferred = []
    worker = ProbeThreadWorker.__new__(ProbeThreadWorker)  # only the state its handler reads: no sockets, no app
    worker.alive, worker.method_queue = True, SimpleNamespace(defer=deferred.append)

    worker.handle_exit(signal.SIGTERM, None)

    assert worker.alive is False  # gthread's graceful exit: it finishes the requests it holds
    assert len(deferred) == 1  # and its poller is woken to begin it
    assert heartbeat.record_heartbeat("web-1", "8000", force=True) is False  # no beat while it finishes
