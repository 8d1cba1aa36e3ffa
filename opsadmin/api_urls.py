"""/api/ops/: the ops JSON API (front door 2)."""

from django.urls import path

from opsadmin import api

app_name = "ops_api"

urlpatterns = [
    path("status/", api.status, name="status"),
    path("runs/", api.runs, name="runs"),
    path("runs/<int:run_id>/", api.run, name="run"),
    path("instances/", api.instances, name="instances"),
    path("drain/", api.write_endpoint("drain"), name="drain"),
]
