"""The portal's Prometheus metrics (served at /metrics by opsadmin/api/metrics.py): the instruments each process
records into, and where each is recorded.

Counted as it happens, in the process it happens in:
- requests, by route pattern (never the raw path: unbounded), method and status: requests.py, a middleware;
- database statements and their time, by alias: database.py, an execute wrapper on every connection;
- Redis cache calls and their time, by operation and outcome: the guarded client (runtime/guarded_cache.py);
- readiness verdicts, as each process computes them: opsadmin/health/readiness.py;
- each worker's resident memory, at every heartbeat: runtime/heartbeat.py;
- rate-limit refusals by tier: stocks/rate_limits.py keeps its own counter (the domain imports no ops code).

Read when scraped (scrape.py): circuit breakers' states, ops runs by operation and status, the task queue.

Under gunicorn every worker writes its values to files in PROMETHEUS_MULTIPROC_DIR (prometheus_client's
multiprocess mode; portal/gunicorn.conf.py sets it up, clears it at start and forgets a dead worker's gauges),
and a scrape of any worker adds them all up. Elsewhere (runserver, tests, commands) the process's own registry.
"""

from prometheus_client import Counter, Gauge, Histogram

# Latency buckets for requests (seconds): the portal answers in milliseconds, a hung dependency in seconds.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Database statements and cache calls are shorter: one round trip each, usually under a millisecond or two.
CALL_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)

REQUESTS = Counter(
    "portal_http_requests",
    "Requests answered, by route pattern, method and status code (probes not included).",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "portal_http_request_duration_seconds",
    "Time from the request entering Django's middleware to its answer, by route pattern, method and status code.",
    ["route", "method", "status"],
    buckets=REQUEST_BUCKETS,
)
DATABASE_SECONDS = Histogram(
    "portal_db_query_duration_seconds",
    "Database statements run, and their time (its _count is the number of statements), by connection alias.",
    ["alias"],
    buckets=CALL_BUCKETS,
)
DATABASE_ERRORS = Counter("portal_db_query_errors", "Database statements that raised, by connection alias.", ["alias"])
CACHE_SECONDS = Histogram(
    "portal_cache_call_duration_seconds",
    "Redis cache calls through the guarded client, and their time, by operation and outcome "
    "(ok; unavailable: answered as a miss or dropped while Redis is out; error).",
    ["operation", "outcome"],
    buckets=CALL_BUCKETS,
)
READINESS_VERDICTS = Counter(
    "portal_readiness_verdicts",
    "Readiness verdicts computed (each reused by the probes for PORTAL_READINESS_CACHE_SECONDS), by status.",
    ["status"],
)
READINESS = Gauge(
    "portal_readiness",
    "1 for the latest readiness verdict any live worker computed (ok, degraded, unavailable), 0 for the others.",
    ["status"],
    multiprocess_mode="livemostrecent",
)
WORKER_MEMORY = Gauge(
    "portal_worker_resident_memory_bytes",
    "Each live web worker's resident set size at its latest heartbeat (a `pid` label per worker under gunicorn).",
    multiprocess_mode="liveall",
)

READINESS_STATUSES = ("ok", "degraded", "unavailable")


def readiness_computed(status):
    """A process computed a readiness verdict of `status`: counted, and shown as the latest."""
    READINESS_VERDICTS.labels(status).inc()
    for each in READINESS_STATUSES:
        READINESS.labels(each).set(1 if each == status else 0)
