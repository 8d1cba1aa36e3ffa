import pytest
from django.conf import settings
from django.urls import clear_url_caches

from opsadmin.spine import registry
from opsadmin.spine.permissions import create_declared_permissions
from tests.opsadmin.activity.sessions import close_all


@pytest.fixture(autouse=True)
def _close_client_sessions():
    """Other clients' sessions a test opened (tests/opsadmin/activity/sessions.py, the doors' samples) end with it."""
    yield
    close_all()


@pytest.fixture
def probe_capability(db):
    """The tests' own capability (tests/opsadmin/probe) beside the portal's: its routes, and its permission as
    a migrate would make it."""
    registry.load([*settings.PORTAL_CAPABILITIES, "tests.opsadmin.probe"])
    create_declared_permissions()
    _reload_api_routes()
    yield registry.get_capability("probe")
    registry.load(settings.PORTAL_CAPABILITIES)
    _reload_api_routes()


def _reload_api_routes():
    """The API's routes are built from the registry when its URLconf loads: build them again."""
    import importlib
    import sys

    for module in ("opsadmin.api.urls", "portal.urls"):
        if module in sys.modules:
            importlib.reload(sys.modules[module])
    clear_url_caches()
