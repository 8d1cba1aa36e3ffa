"""Requests by route, method and status, and their time: a middleware (settings.MIDDLEWARE, after the probes').

The route is the URL pattern that matched ("/admin/opsadmin/opsrun/<path:object_id>/change/"), never the
path a client sent: paths are unbounded, and every distinct label set is a series Prometheus keeps. A
request answered before URL resolution (a redirect to HTTPS, the second-factor gate) is resolved here; a
path nothing matches is "unmatched". Methods outside HTTP's own are "other", for the same reason.

Probes (/health/live/, /health/ready/) are answered before this middleware and not counted: a load balancer
sends several a second and they would swamp the traffic; the readiness verdicts are counted instead. Nor are
requests no server sent (the master's warm-up, the security checklist's audit): they are not traffic.
"""

import time

from django.urls import Resolver404, resolve

from opsadmin.runtime.heartbeat import NOT_SERVED
from opsadmin.runtime.metrics import REQUEST_SECONDS, REQUESTS

UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})


def route_of(request):
    """The URL pattern that matches `request`, from the root ("/api/stocks/<ticker>"), or UNMATCHED."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return UNMATCHED
    return "/" + match.route


class RequestMetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        start = time.perf_counter()
        response = self.get_response(request)
        if NOT_SERVED in request.META:
            return response
        seconds = time.perf_counter() - start
        method = request.method if request.method in METHODS else "other"
        labels = (route_of(request), method, str(response.status_code))
        REQUESTS.labels(*labels).inc()
        REQUEST_SECONDS.labels(*labels).observe(seconds)
        return response
