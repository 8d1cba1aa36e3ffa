"""The portal's URLs, and before them a few JSON answers under the scanner API's namespace to compress."""

from django.http import HttpResponse, JsonResponse
from django.urls import include, path

from portal.urls import urlpatterns as portal_urlpatterns

ROWS = [{"ticker": f"T{n:04d}", "name": f"Company {n}", "sector": "Technology", "volume": n} for n in range(80)]


def screen(request):
    return JsonResponse({"results": ROWS})


def small(request):
    return JsonResponse({"results": ROWS[:2]})


def tagged(request):
    response = JsonResponse({"results": ROWS})
    response["ETag"] = '"screen-1"'
    return response


def text(request):
    return HttpResponse("market data\n" * 500, content_type="text/plain")


scanner = [
    path("screen/", screen),
    path("small/", small),
    path("tagged/", tagged),
    path("text/", text),
]

urlpatterns = [
    path("api/compression-test/", include((scanner, "scanner"))),
    *portal_urlpatterns,
]
