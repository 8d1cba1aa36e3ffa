"""Rate limits hold exactly across a fleet: gunicorn with 4 workers counting in one Redis, and several client
processes sending concurrent requests with one free-tier scanner token. Exactly the minute's limit is admitted;
every other request is refused with 429 and Retry-After, whichever worker took it."""

import json
import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection

import pytest
import redis

from tests.services import portal_gunicorn
from tests.system.conftest import manage, server_environment

pytestmark = pytest.mark.sqlite  # its own SQLite file and Redis: runs once, in the SQLite pass

WORKERS = 4
CLIENTS = 6  # processes
THREADS = 8  # concurrent requests in each
REQUESTS = 50  # from each process: 300 in all, five times the limit
FREE_PER_MINUTE = 60


def request(port, path, token):
    """(status, headers, body) of one GET on a connection of its own."""
    connection = HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def client(port, token, start, results):
    """One client process: wait for the others, then REQUESTS requests, THREADS at a time."""
    start.wait()
    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(lambda _: request(port, "/api/stocks/", token), range(REQUESTS)))
    results.put([(status, headers.get("Retry-After"), body) for status, headers, body in answers])


def test_the_fleet_admits_exactly_the_limit_of_one_free_tier_key(migrated_database, tmp_path, redis_url):
    database = tmp_path / "portal.sqlite3"
    database.write_bytes(migrated_database.read_bytes())
    environment = server_environment(DATABASE_URL=f"sqlite:///{database}", REDIS_URL=redis_url, PORTAL_WARM_UP_PATHS="")
    made = manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User; User.objects.create_user('trader')",
        environment=environment,
    )
    assert made.returncode == 0, made.stderr
    issued = manage("create_api_token", "trader", "--scope", "scanner", environment=environment)
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()

    with portal_gunicorn(environment, workers=WORKERS, log=tmp_path / "gunicorn.log") as (_, port, _probe):
        processes = multiprocessing.get_context("spawn")
        start, results = processes.Barrier(CLIENTS), processes.Queue()
        clients = [processes.Process(target=client, args=(port, token, start, results)) for _ in range(CLIENTS)]
        for process in clients:
            process.start()
        answers = [answer for _ in clients for answer in results.get(timeout=120)]
        for process in clients:
            process.join(30)
        status, _, body = request(port, "/api/usage/", token)

    assert len(answers) == CLIENTS * REQUESTS
    admitted = [answer for answer in answers if answer[0] == 200]
    refused = [answer for answer in answers if answer[0] == 429]
    assert (len(admitted), len(refused)) == (FREE_PER_MINUTE, CLIENTS * REQUESTS - FREE_PER_MINUTE)
    for _, retry_after, refusal in refused:
        assert 1 <= int(retry_after) <= 60
        assert json.loads(refusal) | {"retry_after": None} == {
            "error": "rate limit exceeded: 60 requests a minute on the free tier",
            "window": "minute",
            "tier": "free",
            "limit": 60,
            "retry_after": None,
        }
    # The usage answer counts nothing; the day counted the admitted requests alone.
    assert (status, json.loads(body)) == (
        200,
        {"tier": "free", "limits": {"minute": 60, "day": 5000}, "remaining": {"minute": 0, "day": 4940}},
    )
    counters = redis.Redis.from_url(redis_url)
    assert sorted(int(counters.get(key)) for key in counters.keys("ratelimit:1:scanner/user:*")) == [60, 300]
