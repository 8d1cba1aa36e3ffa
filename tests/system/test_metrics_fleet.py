"""/metrics under the production gunicorn configuration: whichever worker answers a scrape, the request counts
are the instance's, every worker's added up (prometheus_client's multiprocess mode), through workers recycled
by PORTAL_MAX_REQUESTS and one killed outright; the master's warm-up requests are not counted, and a worker
that is gone leaves its counts (folded into the directory's archives, its own files gone) but not its memory
gauge."""

import json
import os
import signal
import threading
import time

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.services import http, portal_gunicorn
from tests.system.conftest import manage, server_environment

pytestmark = pytest.mark.sqlite  # its own SQLite file: runs once, in the SQLite pass

WORKERS, CLIENTS, REQUESTS_EACH = 3, 4, 25
ROUTE = "/api/ops/runs/"
MAX_REQUESTS = 20  # each worker is replaced after 20 to 22 requests: several are, during the traffic
TOKEN = """
import json
from django.contrib.auth.models import Group, User
from portal.accounts.tokens import issue_token
user = User.objects.create_user("prometheus", is_staff=True)
user.groups.add(Group.objects.get(name="Ops viewers"))
print(json.dumps({"token": issue_token(user, "scraper")[1]}))
"""


def test_request_counts_add_up_across_workers(migrated_database, tmp_path):
    database = tmp_path / "portal.sqlite3"
    database.write_bytes(migrated_database.read_bytes())
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"left by an earlier server")  # emptied at start
    environment = server_environment(
        DATABASE_URL=f"sqlite:///{database}",
        PORTAL_METRICS_DIR=str(metrics_dir),
        PORTAL_MAX_REQUESTS=str(MAX_REQUESTS),
        PORTAL_WARM_UP_PATHS=ROUTE,  # the master serves it once before forking: not traffic, not counted
    )
    made = manage("shell", "-c", TOKEN, environment=environment)
    assert made.returncode == 0, made.stderr
    headers = {"Authorization": f"Bearer {json.loads(made.stdout.strip().splitlines()[-1])['token']}"}
    log = tmp_path / "gunicorn.log"
    with portal_gunicorn(environment, workers=WORKERS, log=log) as (master, port, _):
        assert counted(port, headers) == 0
        first_workers = workers_of(master)

        answers, lock = [], threading.Lock()

        def client(count):
            for _ in range(count):
                status, _, _ = http(port, ROUTE, headers=headers, timeout=15)
                with lock:
                    answers.append(status)

        traffic(client, REQUESTS_EACH)
        sent = CLIENTS * REQUESTS_EACH
        assert answers == [200] * sent
        wait_for(lambda: len(workers_of(master)) == WORKERS)
        assert set(workers_of(master)) - set(first_workers), "no worker was recycled"
        wait_for(lambda: only_live_workers_and_archives(metrics_dir, master))  # the recycled ones' folded
        for _ in range(2 * WORKERS):  # each scrape answered by whichever worker the kernel picks
            assert counted(port, headers) == sent

        killed = workers_of(master)[0]
        os.kill(killed, signal.SIGKILL)
        wait_for(lambda: killed not in workers_of(master) and len(workers_of(master)) == WORKERS)
        wait_for(lambda: only_live_workers_and_archives(metrics_dir, master))
        traffic(client, 5)
        sent += CLIENTS * 5
        for _ in range(2 * WORKERS):
            assert counted(port, headers) == sent

        def memory_of_live_workers_only():
            pids = {labels.get("pid") for labels, _ in samples(port, headers)["portal_worker_resident_memory_bytes"]}
            return pids == {str(pid) for pid in workers_of(master)}

        wait_for(memory_of_live_workers_only)
    assert not list(metrics_dir.glob("gauge_liveall_*.db"))  # every worker's memory went as it exited
    assert "Traceback" not in log.read_text()


def only_live_workers_and_archives(metrics_dir, master):
    """The directory holds the live workers' files and the archives the dead ones' counts were folded into."""
    owners = {path.stem.rpartition("_")[2] for path in metrics_dir.glob("*.db")}
    return owners == {str(pid) for pid in workers_of(master)} | {"archive"} and {
        path.name for path in metrics_dir.glob("*_archive.db")
    } == {"counter_archive.db", "histogram_archive.db"}


def traffic(client, each):
    threads = [threading.Thread(target=client, args=(each,)) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)


def samples(port, headers):
    """{sample name: [(labels, value)]} of one scrape, parsed by the Prometheus client's own parser."""
    status, body, _ = http(port, "/metrics", headers=headers)
    assert status == 200, body
    found = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def counted(port, headers):
    """Requests to ROUTE answered 200, as /metrics says."""
    return sum(
        value
        for labels, value in samples(port, headers).get("portal_http_requests_total", [])
        if labels["route"] == ROUTE and labels["status"] == "200"
    )


def workers_of(master):
    return sorted(child.pid for child in psutil.Process(master.pid).children())


def wait_for(condition, timeout=20):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.1)
