"""`ops`: every declared read and write of every capability, from the command line.

    manage.py ops list [--json]
    manage.py ops show CAPABILITY[.READ] [--set name=value ...] [--json]
    manage.py ops run WRITE [--set name=value ...] [--dry-run] [--enqueue] [--json]

`show` without a read shows the capability's status. `run` waits for the end: a
task-worker write is done here unless --enqueue; work sent to processes is waited for
until every process answered. Exit 0 / 1 (a problem found or left) / 2 (bad usage).
"""

from django.core.management.base import BaseCommand, CommandError

from opsadmin.management.cli import OpsCommand
from opsadmin.spine import registry
from opsadmin.spine.arguments import BadInput, from_assignments
from opsadmin.spine.capability import NotFound
from opsadmin.spine.catalog import catalog
from opsadmin.spine.results import to_json
from opsadmin.spine.runs import InvalidArguments, validate


class Command(OpsCommand):
    help = "List, read or run any declared ops capability: ops list | ops show CAPABILITY[.READ] | ops run WRITE."

    def create_parser(self, prog_name, subcommand, **kwargs):
        return BaseCommand.create_parser(self, prog_name, subcommand, **kwargs)  # --json goes after the action

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="list|show|run")
        listing = actions.add_parser(
            "list", help="Every capability, its reads and writes, their permissions and paths."
        )
        show = actions.add_parser("show", help="A capability's status, or one of its reads.")
        show.add_argument("what", metavar="CAPABILITY[.READ]")
        show.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="A read's parameter.")
        run = actions.add_parser("run", help="Run a declared write and wait for its end.")
        run.add_argument("write", metavar="WRITE")
        run.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="An argument (repeat it).")
        run.add_argument("--dry-run", action="store_true", help="Set dry_run, for writes that have one.")
        run.add_argument("--enqueue", action="store_true", help="Queue it for the task worker and return.")
        for action in (listing, show, run):
            action.add_argument("--json", action="store_true", help="Print JSON, as the API answers.")

    def handle(self, *args, action, **options):
        return {"list": self.list, "show": self.show, "run": self.run}[action](**options)

    def list(self, **options):
        found = catalog()
        if options["json"]:
            self.stdout.write(to_json(found, indent=2))
            return
        listed = [(capability, _lines(capability)) for capability in found["capabilities"]]
        every = [line for _capability, lines in listed for line in lines]
        name_width, permission_width = (max((len(line[column]) for line in every), default=0) for column in (1, 2))
        for capability, lines in listed:
            self.stdout.write(f"{capability['name']}: {capability['title']}")
            for kind, name, permission, door in lines:
                self.stdout.write(f"  {kind:<5} {name:<{name_width}}  {permission:<{permission_width}}  {door}")

    def show(self, what, **options):
        name, _, read_name = what.partition(".")
        try:
            capability = registry.get_capability(name)
            read = capability.read(read_name) if read_name else capability.status_read
        except (KeyError, StopIteration):
            raise CommandError(f"no read {what!r}: `manage.py ops list` shows them", returncode=2) from None
        if read is None:
            raise CommandError(f"{name} has no status read: name one of {self._reads(capability)}", returncode=2)
        try:
            section = read.function(**validate(read.form_class, from_assignments(read.form_class, options["set"])))
        except (BadInput, InvalidArguments) as bad:
            raise CommandError(str(bad), returncode=2) from None
        except NotFound as missing:
            raise CommandError(str(missing), returncode=2) from None
        if options["json"]:
            self.stdout.write(to_json(section, indent=2))
        else:
            self.print_section(f"{capability.title}: {read.title}", section)
        if not section.ok:
            raise CommandError(f"{what}: {section.status}", returncode=1)

    def run(self, write, **options):
        try:
            declared = registry.get_write(write)
        except KeyError:
            raise CommandError(f"no write {write!r}: `manage.py ops list` shows them", returncode=2) from None
        try:
            data = from_assignments(declared.form_class, options["set"])
        except BadInput as bad:
            raise CommandError(str(bad), returncode=2) from None
        if options["dry_run"]:
            if "dry_run" not in declared.form_class.base_fields:
                raise CommandError(f"{write} has no dry run", returncode=2)
            data["dry_run"] = "true"
        self.exit_for([self.run_write(declared, data, options, enqueue=options["enqueue"])])

    @staticmethod
    def _reads(capability):
        return ", ".join(f"{capability.name}.{read.name}" for read in capability.reads)


def _lines(capability):
    """(kind, name, permission, door) of each read and write of a catalogued `capability`, as `list` prints them."""
    reads = [
        ("read", f"{capability['name']}.{read['name']}", read["permission"], f"GET {read['path']}")
        for read in capability["reads"]
    ]
    writes = [
        ("write", write["name"], write["permission"], f"POST {write['path']} ({write['target']})")
        for write in capability["writes"]
    ]
    return reads + writes
