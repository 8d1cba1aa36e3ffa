"""The database capability's health check: declared indexes missing or INVALID."""

import dataclasses

from django.db import Error as DatabaseError
from health_check import HealthCheck
from health_check.exceptions import ServiceWarning

from opsadmin.operations.database.analysis import index_health
from opsadmin.spine.catalog_locks import CatalogLocked


@dataclasses.dataclass
class DeclaredIndexes(HealthCheck):
    """A warning while indexes the models declare are missing or INVALID: a detail for staff.

    Never fails readiness: a missing index makes queries slower, not wrong, and taking
    every instance out of the load balancer for it would be an outage.
    """

    def run(self):
        try:
            health = index_health()
        except DatabaseError as error:
            raise ServiceWarning("declared indexes unknown: database error") from error
        except CatalogLocked as locked:
            raise ServiceWarning(f"declared indexes unknown: {locked}") from locked
        problems = [f"missing: {', '.join(health.missing)}"] if health.missing else []
        problems += [f"invalid: {', '.join(health.invalid)}"] if health.invalid else []
        if problems:
            raise ServiceWarning("; ".join(problems) + " (run optimize_database)")
