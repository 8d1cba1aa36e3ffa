"""`security_checklist [--json] [--fail-on warning|failure]`: the security checklist, as a deployment gate.

Exit 0 when no item is at or above the --fail-on level (default failure), 1 when one is, 2 on
bad usage. `--json` prints what `GET /api/ops/security/` answers (the checklist itself).
"""

from django.core.management.base import CommandError

from opsadmin.management.cli import OpsCommand
from opsadmin.spine import registry
from opsadmin.spine.results import to_json

LEVELS = ("warning", "failure")


class Command(OpsCommand):
    help = "Grade the deployment's security settings and headers; exit 1 when an item is at or above --fail-on."

    def add_arguments(self, parser):
        # Checked in handle, not by argparse: a bad level then exits 2 from call_command too, as from a shell.
        parser.add_argument(
            "--fail-on",
            default="failure",
            metavar="{warning,failure}",
            help="Exit 1 when an item is graded this or worse (default: failure).",
        )

    def handle(self, *args, fail_on, **options):
        if fail_on not in LEVELS:
            raise CommandError(f"--fail-on takes warning or failure, not {fail_on!r}", returncode=2)
        capability = registry.get_capability("security")
        section = capability.status_read.function()
        checklist = section.data
        if options["json"]:
            self.stdout.write(to_json(checklist, indent=2))
        else:
            self.print_section(capability.title, section)
            for item in checklist.items:
                self.stdout.write(f"  {item.status:<8} {item.id:<28} {item.title}: {item.current}")
        if found := checklist.at_least(fail_on):
            raise CommandError(
                f"security checklist: {len(found)} item{'s' if len(found) != 1 else ''} at or above {fail_on}",
                returncode=1,
            )
