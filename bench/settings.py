"""The portal's settings with bench/urls.py as the URL map (bench/health.py, bench/admin_lists.py, bench/api.py,
bench/connection_pool.py)."""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
