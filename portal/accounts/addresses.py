"""The address a request came from, as the login lockout counts it (settings.AXES_CLIENT_IP_CALLABLE).

Without a proxy it is REMOTE_ADDR, whatever X-Forwarded-For says: anyone can send that header,
and a lockout keyed on it would be evaded by changing it on every try. Behind our proxy
(PORTAL_BEHIND_PROXY) REMOTE_ADDR is the proxy, and the client is the last X-Forwarded-For entry:
the one the proxy appended for the connection it accepted (haproxy's `option forwardfor`,
nginx's $proxy_add_x_forwarded_for). Entries before it are the client's to invent.
"""

import ipaddress

from django.conf import settings


def client_address(request):
    """The client's address: REMOTE_ADDR, or behind our proxy the address it appended (REMOTE_ADDR without one)."""
    remote = request.META.get("REMOTE_ADDR")
    if not settings.PORTAL_BEHIND_PROXY:
        return remote
    appended = request.META.get("HTTP_X_FORWARDED_FOR", "").rpartition(",")[2].strip()
    try:
        return str(ipaddress.ip_address(appended))
    except ValueError:
        return remote
