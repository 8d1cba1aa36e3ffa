"""`system_status`: every capability's status at a glance; exit 1 when a section is not ok."""

from django.core.management.base import CommandError

from opsadmin.management.cli import OpsCommand
from opsadmin.spine.results import to_json
from opsadmin.spine.sections import overall, readable_sections


class Command(OpsCommand):
    help = "Everything at a glance: each capability's status section. Exit 1 when a section is not ok."

    def handle(self, *args, **options):
        sections = readable_sections(lambda permission: True)  # the command line reads everything
        if options["json"]:
            self.stdout.write(to_json(overall(sections), indent=2))
        else:
            for capability, section in sections:
                self.print_section(capability.title, section)
        if not_ok := [capability.name for capability, section in sections if not section.ok]:
            raise CommandError(f"not ok: {', '.join(not_ok)}", returncode=1)
