"""`drain INSTANCE [INSTANCE ...] [--resume]`: take instances out of (or back into) the load balancer."""

from opsadmin.management.cli import OpsCommand
from opsadmin.spine import registry

DRAIN, RESUME = "drain", "resume"


class Command(OpsCommand):
    help = "Drain instances (readiness answers 503 while they keep serving) or, with --resume, put them back."

    def add_arguments(self, parser):
        parser.add_argument("instances", nargs="+", metavar="INSTANCE", help="Instance id, host:port.")
        parser.add_argument("--resume", action="store_true", help="Resume instead of draining.")

    def handle(self, *args, instances, resume, **options):
        data = {"instances": instances, "action": RESUME if resume else DRAIN}
        self.exit_for([self.run_write(registry.get_write("drain"), data, options)])
