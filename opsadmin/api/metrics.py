"""GET /metrics: the Prometheus exposition of this instance (opsadmin/runtime/metrics/), for a scraper.

Who may scrape, as the access policy says for every ops surface (portal/accounts/access.py): a staff session
or an ops token with `opsadmin.view_ops` (Prometheus's `authorization` with a viewer's token); or, with no
credentials at all, a client whose address is in PORTAL_METRICS_ALLOWED_ADDRESSES (the address the request
came from, or behind our proxy the one it appended: portal/accounts/addresses.py). Credentials that are
sent are always checked, from an allowed address too: a revoked token is refused wherever it comes from.
Everyone else gets the policy's JSON refusal, 401 or 403; the metrics themselves are never cached.
"""

import ipaddress

from django.conf import settings
from django.http import HttpResponse, JsonResponse

from opsadmin.runtime.metrics.scrape import exposition_of
from portal.accounts.access import OPS, Refusal, authorize
from portal.accounts.addresses import client_address

PERMISSION = "opsadmin.view_ops"
METHODS = ("GET", "HEAD")


def metrics(request):
    if request.method not in METHODS:
        response = JsonResponse({"error": f"{request.method[:10]} is not allowed here: use GET"}, status=405)
        response["Allow"] = ", ".join(METHODS)
        return response
    try:
        authorize(request, PERMISSION, surface=OPS, anonymous=allowed_address(request))
    except Refusal as refusal:
        return refusal.response()
    body, content_type = exposition_of(request.headers.get("Accept"))
    response = HttpResponse(body, content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response


def allowed_address(request):
    """Whether the client's address is in PORTAL_METRICS_ALLOWED_ADDRESSES."""
    try:
        address = ipaddress.ip_address(client_address(request) or "")
    except ValueError:
        return False
    return any(address in network for network in settings.PORTAL_METRICS_ALLOWED_ADDRESSES)
