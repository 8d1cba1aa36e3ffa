"""The portal's URLs, its error handlers, and views and a middleware that need a dependency that is out."""

from django.urls import path

from opsadmin.runtime.breakers import OPEN, Unavailable
from portal.urls import handler400, handler403, handler404, handler500, urlpatterns  # noqa: F401  (the handlers)

OUT = Unavailable("database", OPEN, 7)


def needs_the_database(request):
    raise OUT


def broken(request):
    raise RuntimeError("a bug")


class SavesLate:
    """Like SessionMiddleware saving a session after the view: fails on paths ending in `late/`."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.endswith("late/"):
            raise OUT
        return response


urlpatterns = [
    path("api/ops/out/", needs_the_database),
    path("out/", needs_the_database),
    path("api/ops/broken/", broken),
    *urlpatterns,
]
