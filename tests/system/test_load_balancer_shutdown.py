"""Stopping and restarting instances behind HAProxy with no client request failing (portal/shutdown.py).

Two instances under gunicorn behind HAProxy, which checks each one's /health/ready/ on its probe listener
(tests/system/balancer.py), while a bounded stream of clients goes through HAProxy. A SIGTERM makes readiness
answer 503 at once; the instance keeps serving for DRAIN seconds, long enough for HAProxy's FALL failed checks
INTER apart, then stops accepting and finishes what it holds. Each test prints its requests sent, failed and
the longest latency.
"""

import contextlib
import json
import signal
import time

import pytest

from tests.services import http, portal_gunicorn
from tests.system.balancer import FALL, INTER, RISE, SERVERS, balanced_portal, require_servers
from tests.system.traffic import Traffic, summary

pytestmark = pytest.mark.sqlite  # brings its own PostgreSQL, Redis, gunicorn and HAProxy: runs once, in the SQLite pass

MARGIN = 1.5  # a loaded shared machine
DRAIN = FALL * INTER + INTER + MARGIN  # HAProxy's worst case to mark a server DOWN (a check just missed), and margin
GRACEFUL = 30  # PORTAL_GRACEFUL_TIMEOUT's default: what a stopping instance gives its requests in flight
WARM = 2.0


@pytest.fixture
def balanced(tmp_path):
    require_servers()
    with balanced_portal(tmp_path, PORTAL_SHUTDOWN_DRAIN_SECONDS=str(DRAIN)) as balanced:
        yield balanced


def stop(balanced, name):
    """SIGTERM to instance `name`'s master, as systemd or Kubernetes send it; (seconds until HAProxy marked it
    DOWN, seconds until it exited)."""
    process = balanced.instances[name].process
    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    down = balanced.wait_for_state(name, "DOWN", DRAIN)  # while it still serves: DRAIN covers HAProxy's worst case
    process.wait(timeout=DRAIN + GRACEFUL)
    return down, time.monotonic() - signalled


def fleet_states(balanced):
    """{instance id: state} as the portal's fleet read says, asked through HAProxy."""
    headers = {"Authorization": f"Bearer {balanced.stack.token}", "Accept": "application/json"}
    status, answer, _ = http(balanced.port, "/api/ops/instances/", headers=headers)
    assert status == 200, answer
    return {instance["id"]: instance["state"] for instance in json.loads(answer)["instances"]}


def assert_none_failed(traffic, since, until):
    assert traffic.between(since, until), "no requests went through HAProxy meanwhile"
    failed = [answer for answer in traffic.answers if answer.status != 200]
    assert not failed, f"{len(failed)} of {len(traffic.answers)} requests through HAProxy failed: {failed[:5]}"


def test_sigterm_takes_an_instance_out_of_haproxy_and_no_request_fails(balanced, report):
    web1 = balanced.instances["web1"]

    with Traffic(balanced.stack, probe_every=None) as traffic:
        time.sleep(WARM)
        signalled = time.monotonic()
        took_down, exited = stop(balanced, "web1")
        time.sleep(1.0)  # web2 alone
        end = time.monotonic()

    report(f"SIGTERM through HAProxy: {summary(traffic.answers)}; DOWN in {took_down:.2f} s, exited in {exited:.2f} s")
    assert_none_failed(traffic, signalled, end)
    assert exited >= DRAIN, "it stopped accepting before the drain delay was over"
    assert web1.process.returncode == 0
    assert balanced.server_states()["web2"] == "UP"
    assert fleet_states(balanced)[web1.instance_id] == "stopped"  # not "gone" a minute later


def test_a_rolling_restart_of_both_instances_fails_no_request(balanced, report):
    timings = []
    with contextlib.ExitStack() as restarted:  # the new servers, stopped once the test is over
        with Traffic(balanced.stack, probe_every=None) as traffic:
            time.sleep(WARM)
            began = time.monotonic()
            for name in SERVERS:
                instance = balanced.instances[name]
                took_down, exited = stop(balanced, name)
                started = time.monotonic()
                ports = (instance.port, instance.probe_port)  # its drain delay is in the environment, as before
                served = portal_gunicorn(balanced.stack.environment, ports=ports, log=instance.log)
                instance.process, _, _ = restarted.enter_context(served)
                balanced.wait_for_state(name, "UP", RISE * INTER + INTER + MARGIN)
                took_up = time.monotonic() - started
                timings.append(f"{name} DOWN in {took_down:.2f} s, exited in {exited:.2f} s, UP in {took_up:.2f} s")
            time.sleep(1.0)
            end = time.monotonic()

        report(f"rolling restart through HAProxy: {summary(traffic.answers)}; " + "; ".join(timings))
        assert_none_failed(traffic, began, end)
        assert balanced.server_states() == {"web1": "UP", "web2": "UP"}  # a shutdown is not a drain: none kept
        assert set(fleet_states(balanced).values()) == {"serving"}
