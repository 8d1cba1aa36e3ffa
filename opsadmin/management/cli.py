"""What every ops command shares: running a declared write and waiting for it, printing sections, exit codes.

Exit 0 when all is well; 1 when a run failed, partly failed or left a problem behind, a read
found one, or the database is unavailable (one line, no traceback); 2 on bad usage, with the
form's own messages, as on every door. `--json` prints what the API would answer, through the
same encoder.
"""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from opsadmin.models import OpsRun
from opsadmin.runtime.breakers import Unavailable
from opsadmin.spine import registry, runs, targets
from opsadmin.spine.results import to_json
from opsadmin.spine.runs import Actor, InvalidArguments, describe, submit

POLL_SECONDS = 0.2


class OpsCommand(BaseCommand):
    def execute(self, *args, **options):
        """A dependency that is out (the database: the audit log lives there) is one line and exit 1, no traceback."""
        try:
            return super().execute(*args, **options)
        except Unavailable as out:
            raise CommandError(str(out), returncode=1) from out

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.add_argument("--json", action="store_true", help="Print JSON, as the API answers.")
        return parser

    def run_write(self, write, data, options, *, enqueue=False):
        """Submit a write from the command line and wait for its end; bad input exits 2."""
        try:
            run = submit(
                write,
                data,
                actor=Actor.cli(),
                door=OpsRun.Door.CLI,
                where=lambda declared: self.where(write, declared, enqueue),
                on_progress=None if options["json"] or options["verbosity"] == 0 else self.show_progress,
            )
        except InvalidArguments as invalid:
            recorded = f" (refused: recorded as run #{invalid.run.pk})" if invalid.run else ""
            raise CommandError(f"{invalid}{recorded}", returncode=2) from None
        if run.target in targets.PROCESS_TARGETS:
            run = self.wait_for(run)
        if options["json"]:
            self.stdout.write(to_json(describe(run), indent=2))
        elif options["verbosity"]:
            self.print_run(run)
        return run

    @staticmethod
    def where(write, declared, enqueue):
        """A task-worker write is done here and waited for, unless --enqueue; --enqueue can't move process work."""
        if declared in targets.PROCESS_TARGETS:
            if enqueue:
                raise InvalidArguments(
                    {"__all__": [f"{write.name} runs in {declared.replace('_', ' ')}: it can't be queued"]}
                )
            return declared
        return targets.TASK_WORKER if enqueue else targets.HERE

    def wait_for(self, run):
        """Wait until every process answered; past their deadline, give up on the silent ones and settle."""
        deadline = time.monotonic() + settings.PORTAL_COMMAND_TIMEOUT_SECONDS + POLL_SECONDS
        while not run.finished:
            if time.monotonic() > deadline:
                runs.give_up_on_overdue()  # whoever else sweeps may be gone too: settle it from here
                run.refresh_from_db()
                break
            time.sleep(POLL_SECONDS)
            run.refresh_from_db()
        return run

    def show_progress(self, **progress):
        """Progress as the operation records it, on stderr so the output stays clean."""
        self.stderr.write("  " + ", ".join(f"{key}: {value}" for key, value in progress.items()))

    def print_run(self, run):
        if run.status == OpsRun.Status.QUEUED and run.target == targets.TASK_WORKER:
            self.stdout.write(f"Queued as run #{run.pk}; the task worker (manage.py ops_worker) will perform it.")
            return
        if not run.finished:
            self.stdout.write(f"Run #{run.pk} is still {run.status}; `manage.py ops show runs.run --set id={run.pk}`.")
            return
        for step in (run.result or {}).get("steps", []):
            took = f" {step['seconds']:.3f} s" if step["seconds"] is not None else ""
            self.stdout.write(f"  {step['status']:<8} {step['action']} {step['name']}{took}: {'; '.join(step['sql'])}")
        self.stdout.write(run.summary or run.error or run.status)
        for target in run.targets.all():
            self.stdout.write(f"  {target.process:<32} {target.status:<10} {target.summary or target.error}")
        for problem in run.problems:
            self.stdout.write(f"  left behind: {problem}")

    def exit_for(self, runs):
        """Exit 1 when a run failed, partly failed or left a problem behind; 2 when one was refused."""
        failures = []
        for run in runs:
            title = registry.get_write(run.operation).title
            if run.status == OpsRun.Status.REFUSED:
                raise CommandError(f"{title} refused: {run.error}", returncode=2)
            if run.status in (OpsRun.Status.FAILED, OpsRun.Status.PARTLY_FAILED):
                failures.append(f"{title} {run.get_status_display().lower()}: {run.error}")
            elif run.problems:
                failures.append(f"{title} left behind: {'; '.join(run.problems)}")

        if failures:
            raise CommandError("; ".join(failures), returncode=1)

    def print_section(self, title, section):
        self.stdout.write(
            f"{title}: {section.status} — {section.headline}" + (f" ({section.detail})" if section.detail else "")
        )
        for line in section.lines:
            self.stdout.write(f"  {line}")
