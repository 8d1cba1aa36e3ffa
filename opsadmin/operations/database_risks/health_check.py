"""The slow dangers' health checks: one warning per danger, a detail for staff, never readiness failing."""

import dataclasses
import threading
import time
from typing import ClassVar

from django.db import Error as DatabaseError
from django.db import connection
from health_check import HealthCheck
from health_check.exceptions import ServiceWarning

from opsadmin.operations.database_risks import sections
from opsadmin.spine.catalog_locks import CatalogLocked
from opsadmin.spine.results import OK

# The dangers grow over days, and their catalog reads (the bloat estimate over pg_stats above all)
# cost more than a probe should pay every few seconds: each process reads each at most once a minute.
READ_EVERY_SECONDS = 60
_last = {}  # danger name -> (monotonic time, Danger or the error's message)
_lock = threading.Lock()


def forget():
    """Read again at the next check (tests, and after a setting changes)."""
    with _lock:
        _last.clear()


@dataclasses.dataclass
class SlowDanger(HealthCheck):
    """A warning while this danger fires (dangers.DANGERS[danger]), naming what crossed its line.

    Never fails readiness: wraparound, a full sequence or bloat are days away when they
    are seen, and taking every instance out of the load balancer for them would be the outage.
    On SQLite there is nothing to check, and the check passes.
    """

    uses_database: ClassVar[bool] = True  # readiness runs it in a thread that keeps its connection

    danger: str = "wraparound"

    def run(self):
        if connection.vendor != "postgresql":
            return
        found = self._read()
        if isinstance(found, str):
            raise ServiceWarning(f"{self.danger} unknown: {found}")
        if found.status != OK:
            raise ServiceWarning(f"{found.headline}: " + "; ".join(found.found))

    def _read(self):
        now = time.monotonic()
        with _lock:
            kept = _last.get(self.danger)
        if kept and now - kept[0] < READ_EVERY_SECONDS:
            return kept[1]
        try:
            found = sections.read_dangers(self.danger)[self.danger]
        except CatalogLocked:
            found = "catalog locked"
        except DatabaseError:
            found = "database error"
        with _lock:
            _last[self.danger] = (now, found)
        return found
