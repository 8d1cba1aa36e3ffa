"""The portal's URLs, but with an ops API that answers HTML and a public /metrics: what the checklist must catch."""

from django.http import HttpResponse
from django.urls import path, re_path

from portal.urls import urlpatterns as portal_urlpatterns


def html(request):
    return HttpResponse("<html><body>Not found</body></html>", status=404)


def public_metrics(request):
    return HttpResponse("process_resident_memory_bytes 1.0\n", content_type="text/plain")


urlpatterns = [re_path(r"^api/ops/", html), path("metrics", public_metrics), *portal_urlpatterns]
