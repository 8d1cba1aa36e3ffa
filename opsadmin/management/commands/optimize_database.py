"""`optimize_database`: analyze, create missing declared indexes, rebuild invalid and changed ones, ANALYZE.

Exit 1 when declared indexes are still missing, invalid or changed afterwards (on a dry run: now),
or a step failed. Advice (unused or duplicate indexes, suggestions, a missing extension)
is printed, not an error.
"""

from django.core.management.base import CommandError

from opsadmin.management.cli import OpsCommand
from opsadmin.spine import registry
from opsadmin.spine.results import to_json
from opsadmin.spine.runs import InvalidArguments, describe, validate


class Command(OpsCommand):
    help = (
        "Analyze the database, create the missing declared indexes (CONCURRENTLY on PostgreSQL), rebuild "
        "invalid ones and ANALYZE. Waits and shows progress; --enqueue hands it to the task worker."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Print the plan and change nothing.")
        parser.add_argument("--enqueue", action="store_true", help="Queue it for the task worker and return.")
        parser.add_argument(
            "--index", action="append", default=[], metavar="NAME", help="Only this missing, invalid or changed index."
        )

    def handle(self, *args, **options):
        write = registry.get_write("optimize_database")
        analysis = registry.get_capability("database").read("analysis")
        data = {"dry_run": options["dry_run"], "indexes": options["index"]}
        try:  # bad arguments exit 2 before the (not free) analysis
            validate(write.form_class, data)
        except InvalidArguments as invalid:
            raise CommandError(str(invalid), returncode=2) from None
        quiet = options["verbosity"] == 0
        if not options["json"] and not quiet:
            before = analysis.function().data
            self.stdout.write(before.summary)
            for line in before.advice:
                self.stdout.write(f"  advice: {line}")
        run = self.run_write(
            write,
            data,
            {**options, "json": False, "verbosity": 0 if options["json"] else options["verbosity"]},
            enqueue=options["enqueue"],
        )
        if options["json"]:
            after = analysis.function().data  # the analysis as it stands after the run, its advice included
            summary = {"summary": after.summary, "problems": after.problems, "advice": after.advice}
            self.stdout.write(to_json({**describe(run), "analysis": summary}, indent=2))
        self.exit_for([run])
