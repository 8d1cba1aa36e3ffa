"""One request through the whole middleware stack, in this process, as a browser over HTTPS would send it.

Sent as secure (and with the proxy's header when SECURE_PROXY_SSL_HEADER trusts one) so the
SSL redirect lets it through, and to a host ALLOWED_HOSTS accepts, so what comes back is what
the portal answers in production rather than a redirect or a 400. Its answers are the audit's
findings, reported on the checklist (a 500 included), not traffic: neither django.request nor the request
line (portal.request) logs them.
"""

import logging
import threading

from django.conf import settings
from django.core.signals import setting_changed
from django.test import Client

from opsadmin.runtime.heartbeat import NOT_SERVED
from portal.serving import allowed_host

MARK = "X-Ops-Security-Audit"  # on every audit request, so its answers are not logged as traffic


class SkipAuditRequests(logging.Filter):
    def filter(self, record):
        request = getattr(record, "request", None)
        return request is None or MARK not in getattr(request, "headers", {})


logging.getLogger("django.request").addFilter(SkipAuditRequests())
logging.getLogger("portal.request").addFilter(SkipAuditRequests())


_clients = threading.local()  # each thread's Client, and the settings generation it was built for
_generation = 0


def get(path, address="127.0.0.1", **headers):
    """The response to an anonymous GET of `path` from `address` (a crash answers 500, as it would to anyone).

    The address is the connection's and, behind our proxy, also the one the proxy appended.
    """
    extra = {NOT_SERVED: True, "REMOTE_ADDR": address, "HTTP_HOST": allowed_host()}  # NOT_SERVED: no beat for it
    headers.setdefault("X-Forwarded-For", address)
    if proxy := getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        extra[proxy[0]] = proxy[1]
    return _client().get(path, secure=True, headers={MARK: "1", **headers}, **extra)


def _client():
    """This thread's Client, its cookies dropped: anonymous every time. Built once per thread, not per request:
    a new Client builds the middleware stack, and WhiteNoise scans every static file as it is built (0.9 s a
    checklist with ten requests)."""
    client = getattr(_clients, "client", None)
    if client is None or _clients.generation != _generation:
        _clients.client, _clients.generation = Client(raise_request_exception=False), _generation
        client = _clients.client
    client.cookies.clear()
    return client


def _forget_clients(**kwargs):
    """A settings change (tests) may change the middleware: Clients are built again."""
    global _generation
    _generation += 1


setting_changed.connect(_forget_clients)


def summary(response):
    """ "200", or "302 to /admin/login/": how a response answered, in a few words."""
    if location := response.get("Location"):
        return f"{response.status_code} to {location}"
    return str(response.status_code)
