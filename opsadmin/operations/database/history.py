"""What the audit log and the migrations say about when indexes were built, and why.

The audit log (OpsRun) keeps each run's report with its index steps, so it knows which
indexes the portal built from a suggestion (`create_suggested_indexes`): those are labelled
so, since being declared by no model is then expected, not a fault, until someone adds the
index to Meta.indexes. It also knows which indexes the portal created lately, and the
migrations when each app's schema last changed: an index's scan counter starts when the
index is built, so neither can be called unused before it has had time to be scanned.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.migrations.recorder import MigrationRecorder
from django.db.models import Max, Q

from opsadmin.models import OpsRun
from opsadmin.operations.database.reports import CREATE, DONE
from opsadmin.operations.database.writes import CREATE_SUGGESTED_INDEXES, OPTIMIZE_DATABASE


@dataclass(frozen=True)
class BuiltIndex:
    """The last run of the portal that created an index."""

    name: str
    run: int  # the OpsRun's id
    at: datetime  # when the run finished
    from_suggestion: bool


def built_indexes(since):
    """{index name: BuiltIndex}: every index built from a suggestion, and any other the portal created after `since`.

    The last build of a name wins: a suggestion's index dropped and later created again by
    optimize_database (because a model now declares it) is no longer "from a suggestion".
    """
    suggested, optimize = CREATE_SUGGESTED_INDEXES.name, OPTIMIZE_DATABASE.name
    runs = (
        OpsRun.objects.filter(Q(operation=suggested) | Q(operation=optimize, finished_at__gte=since))
        .filter(finished_at__isnull=False, result__isnull=False)
        .order_by("finished_at", "pk")
        .only("pk", "operation", "finished_at", "result")
    )
    built = {}
    for run in runs:
        result = run.result if isinstance(run.result, dict) else {}
        for step in [] if result.get("dry_run") else result.get("steps") or []:
            if isinstance(step, dict) and step.get("action") == CREATE and step.get("status") == DONE:
                built[step["name"]] = BuiltIndex(step["name"], run.pk, run.finished_at, run.operation == suggested)
    return built


def last_migrations():
    """{app label: when its last migration was applied}: an index its models declare was built by then.

    Unless someone built it again since (the portal's own builds are in `built_indexes`),
    its scan counter has been counting at least since that time.
    """
    applied = MigrationRecorder.Migration.objects.values("app").annotate(last=Max("applied"))
    return {row["app"]: row["last"] for row in applied}
