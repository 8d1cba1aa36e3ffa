"""The portal's settings with bench/urls.py as the URL map (bench/health.py and bench/admin_lists.py only)."""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
