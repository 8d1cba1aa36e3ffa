"""One line per request (logger `portal.request`), with its request id, echoed as X-Request-ID.

The id is the client's X-Request-ID when well-formed (1-128 of A-Z a-z 0-9 . _ -), else a
new uuid4 hex; every record logged while the request is served carries it (portal.logs), and
so does an ops run the request queues, and the task worker's records while it performs that
run (opsadmin.spine.runs). The line says who called without asking the database: the caller
the ops API resolved, else the session user if the request already loaded it, else the
prefix of a bearer token as sent (not checked: the API checks it). Database statements are
counted and timed on every connection the request uses; cache hits and misses are counted by
the Redis caches' client (opsadmin.runtime.guarded_cache), so the local-memory cache of the
development default shows none.

Probes never reach it: HealthProbeMiddleware answers them first (and under gunicorn they
have a listener of their own), so they leave no line.
"""

import logging
import time
from contextlib import ExitStack

from django.db import connections
from django.utils.functional import empty

from portal import request_context
from portal.accounts.addresses import client_address
from portal.accounts.callers import BadCredentials, bearer_token

logger = logging.getLogger("portal.request")


class RequestLogMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = request_context.request_id_from(request.headers.get(request_context.REQUEST_ID_HEADER))
        stats = request_context.RequestStats()
        started = time.perf_counter()
        with request_context.bound(request.request_id, stats), ExitStack() as wrappers:
            for alias in connections:
                wrappers.enter_context(connections[alias].execute_wrapper(stats.time_query))
            response = self.get_response(request)
            wrappers.close()  # the line is written without them, and counts nothing of its own
            log_request(request, response, stats, time.perf_counter() - started)
        response[request_context.REQUEST_ID_HEADER] = request.request_id
        return response


def log_request(request, response, stats, seconds):
    match = getattr(request, "resolver_match", None)
    user, token = caller_of(request)
    fields = {
        "method": request.method,
        "path": request.path,
        "route": match.route if match else None,
        "status": response.status_code,
        "duration_ms": round(seconds * 1000, 1),
        "user": user,
        "token": token,
        "client": client_address(request),
        "db_queries": stats.db_queries,
        "db_ms": round(stats.db_seconds * 1000, 1),
        "cache_hits": stats.cache_hits,
        "cache_misses": stats.cache_misses,
    }
    who = user or (f"token {token}" if token else "anonymous")
    logger.info(
        "%s %s %s in %.1f ms (%s; %d queries in %.1f ms; cache %d hits, %d misses)",
        request.method,
        request.path,
        response.status_code,
        fields["duration_ms"],
        who,
        stats.db_queries,
        fields["db_ms"],
        stats.cache_hits,
        stats.cache_misses,
        extra={**fields, "request": request},  # as Django's records carry it, for filters (not written out)
    )


def caller_of(request):
    """(user name, token prefix) as far as the request already knows them, never with a query of its own."""
    caller = getattr(request, "caller", None)  # the ops API's, checked
    if caller is not None:
        return caller.user.get_username(), caller.token.prefix if caller.token else None
    try:
        token = bearer_token(request)
    except BadCredentials:
        token = None
    if token is not None:
        return None, token.partition(".")[0][:16]  # as sent: the prefix part, unchecked
    user = getattr(request, "user", None)
    if getattr(user, "_wrapped", None) is not empty and user is not None and user.is_authenticated:
        return user.get_username(), None
    return None, None
