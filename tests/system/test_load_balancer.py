"""The portal behind a real load balancer: HAProxy in front of two instances under gunicorn, health-checking
each one's /health/ready/ on its probe listener, while a bounded stream of clients goes through HAProxy
(tests/system/balancer.py). Each test prints its requests sent, failed and the longest latency.
"""

import json
import time

import pytest

from tests.services import http
from tests.system.balancer import FALL, INTER, RISE, balanced_portal, require_servers
from tests.system.traffic import Traffic, summary

pytestmark = pytest.mark.sqlite  # brings its own PostgreSQL, Redis, gunicorn and HAProxy: runs once, in the SQLite pass

WARM = 2.0
DRAIN_CACHE = 2.0  # PORTAL_DRAIN_CACHE_SECONDS: a worker that did not make the drain sees it within this
MARGIN = 1.0  # a loaded shared machine


@pytest.fixture
def balanced(tmp_path):
    require_servers()
    with balanced_portal(tmp_path) as balanced:
        yield balanced


def drain_or_resume(balanced, name, action):
    """The portal's own drain write, through the ops API door on the instance itself; the run's JSON."""
    instance = balanced.instances[name]
    body = json.dumps({"instances": [instance.instance_id], "action": action})
    headers = {"Authorization": f"Bearer {balanced.stack.token}", "Content-Type": "application/json"}
    status, answer, _ = http(instance.port, "/api/ops/instances/drain/", method="POST", body=body, headers=headers)
    assert status == 200, answer
    return json.loads(answer)


def instance_ids(balanced):
    """The instance ids the fleet read lists, asked through HAProxy."""
    headers = {"Authorization": f"Bearer {balanced.stack.token}", "Accept": "application/json"}
    status, answer, _ = http(balanced.port, "/api/ops/instances/", headers=headers)
    assert status == 200, answer
    return sorted(instance["id"] for instance in json.loads(answer)["instances"])


def test_drain_takes_an_instance_out_of_haproxy_while_it_still_answers_and_resume_puts_it_back(balanced):
    assert balanced.server_states() == {"web1": "UP", "web2": "UP"}
    fleet = instance_ids(balanced)
    print(f"\ninstances the portal lists: {fleet}")
    assert {instance.instance_id for instance in balanced.instances.values()} <= set(fleet), "instance ids collide"
    web1 = balanced.instances["web1"]
    token = {"Authorization": f"Bearer {balanced.stack.token}", "Accept": "application/json"}

    with Traffic(balanced.stack, probe_every=None) as traffic:
        time.sleep(WARM)
        drained = time.monotonic()
        drain_or_resume(balanced, "web1", "drain")
        took_down = balanced.wait_for_state("web1", "DOWN", DRAIN_CACHE + FALL * INTER + MARGIN)
        sent_to_web1 = int(balanced.server_stats()["web1"]["stot"])
        assert balanced.server_states()["web2"] == "UP"
        still, _, _ = http(web1.port, "/api/ops/status/", headers=token)
        ready, _, _ = http(web1.probe_port, "/health/ready/")
        time.sleep(2.0)  # traffic goes to web2 only
        assert int(balanced.server_stats()["web1"]["stot"]) == sent_to_web1, "HAProxy sent requests to a DOWN web1"
        drain_or_resume(balanced, "web1", "resume")
        took_up = balanced.wait_for_state("web1", "UP", DRAIN_CACHE + RISE * INTER + MARGIN)
        time.sleep(1.0)
        end = time.monotonic()

    print(f"\ndrain through HAProxy: {summary(traffic.answers)}; DOWN in {took_down:.2f} s, UP in {took_up:.2f} s")
    assert still == 200, "a drained instance still answers what reaches it directly"
    assert ready == 503, "a drained instance's readiness answers 503"
    assert traffic.between(0, drained), "no requests before the drain"
    assert traffic.between(drained, end), "no requests while web1 was drained"
    failed = [answer for answer in traffic.answers if answer.status != 200]
    assert not failed, f"{len(failed)} of {len(traffic.answers)} requests through HAProxy failed: {failed[:5]}"
    assert int(balanced.server_stats()["web1"]["stot"]) > sent_to_web1, "HAProxy sent web1 nothing once resumed"
