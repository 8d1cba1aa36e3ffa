"""/api/ops/: a route for every declared read and write, the paths kept from before, and JSON 404s.

- `GET  /api/ops/` lists every capability, read and write with its path (the catalog);
- `GET  /api/ops/status/` every status section the caller may read;
- `GET  /api/ops/<capability>/<read>/` a read, answered with its Section;
- `POST /api/ops/<capability>/<write>/` a write, answered with its run;
- each capability's aliases (the paths of the README before capabilities were declared):
  a read answered with its data alone, as those paths always answered, or a write.
"""

from django.urls import path, re_path

from opsadmin.api import views
from opsadmin.spine import registry

app_name = "ops_api"


def capability_routes(capability):
    routes = [
        path(f"{capability.name}/{read.name}/", views.read_endpoint(read), name=f"{capability.name}.{read.name}")
        for read in capability.reads
    ]
    routes += [
        path(f"{capability.name}/{write.name}/", views.write_endpoint(write), name=f"{capability.name}.{write.name}")
        for write in capability.writes
    ]
    for alias in capability.aliases:
        view = (
            views.read_endpoint(capability.read(alias.read), data_only=True)
            if alias.read
            else views.write_endpoint(capability.write(alias.write))
        )
        routes.append(path(alias.path, view, name=alias.url_name))
    return routes


urlpatterns = [
    path("", views.index, name="index"),
    path("status/", views.status, name="status"),
    *(route for capability in registry.capabilities() for route in capability_routes(capability)),
    re_path(r"^.*$", views.not_found, name="not_found"),
]
