"""The database capability's health check: declared indexes missing, INVALID or present with another definition."""

import dataclasses
from typing import ClassVar

from django.db import Error as DatabaseError
from health_check import HealthCheck
from health_check.exceptions import ServiceWarning

from opsadmin.operations.database.analysis import index_health
from opsadmin.spine.catalog_locks import CatalogLocked


@dataclasses.dataclass
class DeclaredIndexes(HealthCheck):
    """A warning while indexes the models declare are missing, INVALID or changed: a detail for staff.

    Never fails readiness: a missing index makes queries slower, not wrong, and taking
    every instance out of the load balancer for it would be an outage.
    """

    uses_database: ClassVar[bool] = True  # readiness runs it in a thread that keeps its connection

    def run(self):
        try:
            health = index_health()
        except DatabaseError as error:
            raise ServiceWarning("declared indexes unknown: database error") from error
        except CatalogLocked as locked:
            raise ServiceWarning(f"declared indexes unknown: {locked}") from locked
        if problems := health.problems:
            listed = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in problems.items())
            raise ServiceWarning(f"{listed} (run optimize_database)")
