"""`optimize_database`: analyze, create missing declared indexes, rebuild invalid ones, ANALYZE.

Exit 1 when declared indexes are still missing or invalid afterwards, or a step failed.
Advice (unused or duplicate indexes, suggestions, a missing extension) is printed, not
an error.
"""

from django.core.management.base import CommandError

from opsadmin.cli import WriteCommand
from opsadmin.operations.database.analysis import analyze_database
from opsadmin.operations.declaration import get_write
from opsadmin.runs import InvalidArguments, validate


class Command(WriteCommand):
    help = (
        "Analyze the database, create the missing declared indexes (CONCURRENTLY on PostgreSQL), rebuild "
        "invalid ones and ANALYZE. Waits and shows progress; --enqueue hands it to the task worker."
    )
    operation_name = "optimize_database"

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Print the plan and change nothing.")
        parser.add_argument("--enqueue", action="store_true", help="Queue it for the task worker and return.")
        parser.add_argument(
            "--index", action="append", default=[], metavar="NAME", help="Only this missing or invalid index."
        )

    def handle(self, *args, **options):
        try:  # bad arguments exit 2 before the (not free) analysis
            validate(get_write(self.operation_name), self.form_data(options))
        except InvalidArguments as invalid:
            raise CommandError(str(invalid), returncode=2) from None
        self.quiet = options["verbosity"] == 0
        if not options["json"] and not self.quiet:
            analysis = analyze_database()
            self.stdout.write(analysis.summary)
            for line in analysis.advice:
                self.stdout.write(f"  advice: {line}")
        return super().handle(*args, **options)

    def form_data(self, options):
        return {"dry_run": options["dry_run"], "indexes": options["index"]}

    def json_payload(self, run):
        """The run, and the analysis as it stands after it (its advice included)."""
        analysis = analyze_database()
        summary = {"summary": analysis.summary, "problems": analysis.problems, "advice": analysis.advice}
        return {**super().json_payload(run), "analysis": summary}

    def render(self, run):
        if self.quiet:
            return
        result = run.result
        for step in result["index_steps"]:
            self.stdout.write(f"  {step['status']:<8} {step['action']} {step['name']}: {'; '.join(step['sql'])}")
        self.stdout.write(run.summary)

    def problem(self, run):
        """Declared indexes still missing or invalid (on a dry run: now), or a failed step: exit 1."""
        result = run.result
        if result["problems_remaining"] or not result["ok"]:
            left = result["still_missing"] + result["still_invalid"] + result["failed"] + result["failed_tables"]
            return f"declared indexes still missing or invalid, or a step failed: {', '.join(left)}"
        return None
