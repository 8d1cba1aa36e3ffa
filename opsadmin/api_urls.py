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
    path("health/database/", api.database_health, name="database_health"),
    path("optimize/indexes/", api.write_endpoint("optimize_database"), name="optimize_indexes"),
    path("caches/", api.caches, name="caches"),
    path("caches/clear/", api.write_endpoint("clear_cache"), name="clear_cache"),
    path("caches/flush/", api.write_endpoint("flush_redis_db"), name="flush_redis_db"),
    path("caches/invalidate-stocks/", api.write_endpoint("invalidate_stocks"), name="invalidate_stocks"),
]
