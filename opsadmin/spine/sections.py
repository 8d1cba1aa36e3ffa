"""The status sections a caller may read: what the dashboard, /api/ops/status/ and `system_status` show.

One section per capability that declares a status read, in PORTAL_CAPABILITIES order,
only where the caller has that read's permission. A section whose read fails shows as
unknown, saying why, and the others still show: one broken dependency must not blank
the whole console.
"""

import logging

from django.db import Error as DatabaseError

from opsadmin.spine import registry
from opsadmin.spine.arguments import first_line
from opsadmin.spine.catalog_locks import glance
from opsadmin.spine.results import OK, UNKNOWN, Section

logger = logging.getLogger(__name__)


def readable_sections(may_read):
    """[(capability, Section)] of every status read `may_read(permission_name)` allows, each catalog read a glance."""
    with glance():
        return [
            (capability, read_or_unknown(capability.status_read))
            for capability in registry.capabilities()
            if capability.status_read is not None and may_read(capability.status_read.permission_name)
        ]


def read_or_unknown(read, **parameters):
    """The read's Section, or an unknown one saying why it could not be read."""
    try:
        return read.function(**parameters)
    except DatabaseError as error:
        return Section(UNKNOWN, "could not be read", f"database error: {first_line(error)}")
    except Exception as error:
        logger.exception("status read %s failed", read.name)
        return Section(UNKNOWN, "could not be read", f"{type(error).__name__}: {first_line(error)}")


def overall(sections):
    """{"ok", "sections"}: everything at a glance, ok only when every section is."""
    return {
        "ok": all(section.status == OK for _, section in sections),
        "sections": {capability.name: section for capability, section in sections},
    }
