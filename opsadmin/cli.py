"""Front door 3: the shared shape of management commands that run a declared write.

A command maps its argparse options to the operation's form data; bad input exits
2 with the form's message, a failed run exits 1, and `--json` prints the run.
"""

import json

from django.core.management.base import BaseCommand, CommandError

from opsadmin.models import OpsRun
from opsadmin.operations.declaration import get_write
from opsadmin.runs import Actor, InvalidArguments, submit
from opsadmin.serializers import run_to_dict


class WriteCommand(BaseCommand):
    operation_name = None

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.add_argument("--json", action="store_true", help="Print the run as JSON.")
        return parser

    def form_data(self, options):
        """The operation's form data from the parsed options."""
        raise NotImplementedError

    def render(self, run):
        """Human output for a finished run; the summary line by default."""
        self.stdout.write(run.summary or run.status)

    def json_payload(self, run):
        """What `--json` prints: the run."""
        return run_to_dict(run)

    def problem(self, run):
        """A message when a run that succeeded still leaves a problem (exit 1), else None."""
        return None

    def show_progress(self, **progress):
        """Progress as the operation records it, on stderr so --json output stays clean."""
        self.stderr.write("  " + ", ".join(f"{key}: {value}" for key, value in progress.items()))

    def handle(self, *args, **options):
        run = self.run_write(self.operation_name, self.form_data(options), options)
        self.exit_for([run])

    def run_write(self, operation_name, data, options):
        """Submit one write from the command line and print its outcome; bad input exits 2."""
        operation = get_write(operation_name)
        try:
            run = submit(
                operation,
                data,
                actor=Actor.cli(),
                door=OpsRun.Door.CLI,
                background=options.get("enqueue", False),
                on_progress=None if options["json"] or options["verbosity"] == 0 else self.show_progress,
            )
        except InvalidArguments as invalid:
            raise CommandError(str(invalid), returncode=2) from None
        if options["json"]:
            self.stdout.write(json.dumps(self.json_payload(run), indent=2, default=str))
        elif run.status == OpsRun.Status.QUEUED:
            self.stdout.write(f"Queued as run #{run.pk}; the task worker (manage.py ops_worker) will perform it.")
        elif run.status == OpsRun.Status.SUCCEEDED:
            self.render(run)
        return run

    def exit_for(self, runs):
        """Exit 1 when a run failed or left a problem behind."""
        failures = [
            f"{get_write(run.operation).title} failed: {run.error}"
            for run in runs
            if run.status == OpsRun.Status.FAILED
        ]
        failures += [
            message for run in runs if run.status == OpsRun.Status.SUCCEEDED and (message := self.problem(run))
        ]
        if failures:
            raise CommandError("; ".join(failures), returncode=1)
