"""`breakers list | reset NAME | open NAME | half-open NAME [--json]`: the circuit breakers from the command line.

`list` reads every breaker where its state lives (Redis, or this process on the embedded
default) and never the database, so it answers while the database is down; exit 1 while one
is open or half-open. The writes are declared writes, audited like every other: they need
the database, and reach every web process when each keeps its own state.
"""

from django.core.management.base import CommandError

from opsadmin.management.cli import OpsCommand
from opsadmin.spine import registry
from opsadmin.spine.results import to_json

WRITES = {"reset": "reset_breaker", "open": "open_breaker", "half-open": "half_open_breaker"}


class Command(OpsCommand):
    help = (
        "List the circuit breakers (exit 1 while one is open or half-open), or reset (close), open or "
        "half-open one by name."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["list", *WRITES], help="list, or what to do to breaker NAME.")
        parser.add_argument("name", nargs="?", metavar="NAME", help="The breaker, as `breakers list` names it.")

    def handle(self, *args, action, name, **options):
        if action == "list":
            if name:
                raise CommandError("list takes no NAME", returncode=2)
            self.list(options)
            return
        if not name:
            raise CommandError(f"{action} needs the breaker's NAME: `breakers list` names them", returncode=2)
        self.exit_for([self.run_write(registry.get_write(WRITES[action]), {"name": name}, options)])

    def list(self, options):
        capability = registry.get_capability("breakers")
        section = capability.status_read.function()
        if options["json"]:
            self.stdout.write(to_json(section, indent=2))
        else:
            self.print_section(capability.title, section)
        if not section.ok:
            raise CommandError(f"breakers: {section.status}", returncode=1)
