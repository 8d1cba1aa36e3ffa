"""The request being served, as a context: its id, and what it cost (database queries, cache reads).

The request's middleware (portal.request_log) binds it while the request is served, the task
worker while it performs a run that request queued (opsadmin.spine.runs), and the log records
(portal.logs), the ops runs and the cache client read it. A module of its own, below all of
them, so the runtime's cache client can count a read without importing the logging setup.
"""

import re
import time
import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

REQUEST_ID_SYNTAX = re.compile(r"[A-Za-z0-9._-]{1,128}")
REQUEST_ID_HEADER = "X-Request-ID"


@dataclass
class RequestStats:
    """What one request cost: database queries and their time, cache hits and misses (Redis caches only)."""

    db_queries: int = 0
    db_seconds: float = 0.0
    cache_hits: int = 0
    cache_misses: int = 0

    def time_query(self, execute, sql, params, many, context):
        """A `connection.execute_wrapper`: counts each statement and its time, failed ones too."""
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.db_queries += 1
            self.db_seconds += time.perf_counter() - started


_request_id = ContextVar("portal_request_id", default=None)
_request_stats = ContextVar("portal_request_stats", default=None)


def request_id_from(header):
    """An incoming X-Request-ID when it is well-formed (1-128 of A-Z a-z 0-9 . _ -), else a new one."""
    if header and REQUEST_ID_SYNTAX.fullmatch(header):
        return header
    return uuid.uuid4().hex


def current_request_id():
    """The id of the request (or of the queued run) being served in this context; None outside one."""
    return _request_id.get()


@contextmanager
def bound(request_id, stats=None):
    """Bind `request_id` (and the request's `stats`) to every record logged in this context until it ends."""
    id_token, stats_token = _request_id.set(request_id), _request_stats.set(stats)
    try:
        yield
    finally:
        _request_stats.reset(stats_token)
        _request_id.reset(id_token)


def count_cache(hits, misses):
    """Count cache reads for the request being served (nothing outside a request)."""
    stats = _request_stats.get()
    if stats is not None:
        stats.cache_hits += hits
        stats.cache_misses += misses
