"""The portal's settings with bench/urls.py as the URL map (bench/health.py only; nothing else loads this)."""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
