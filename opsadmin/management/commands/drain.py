"""`drain INSTANCE [INSTANCE ...] [--resume]`: take instances out of (or back into) the load balancer."""

from opsadmin.cli import WriteCommand
from opsadmin.operations.instances import DRAIN, RESUME


class Command(WriteCommand):
    help = "Drain instances (readiness answers 503 while they keep serving) or, with --resume, put them back."
    operation_name = "drain"

    def add_arguments(self, parser):
        parser.add_argument("instances", nargs="+", metavar="INSTANCE", help="Instance id, host:port.")
        parser.add_argument("--resume", action="store_true", help="Resume instead of draining.")

    def form_data(self, options):
        return {"instances": options["instances"], "action": RESUME if options["resume"] else DRAIN}
