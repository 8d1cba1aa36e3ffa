"""Skipping (or, in CI, failing) tests that need PostgreSQL extensions the server lacks."""

from opsadmin.operations.database import suggestions
from tests.services import skip_or_fail


def require_extensions(*wanted):
    for status in suggestions.extension_status():
        if status.name in wanted and not status.ready:
            skip_or_fail(f"needs {status.name}: {status.problem}. {status.how_to_enable}")
