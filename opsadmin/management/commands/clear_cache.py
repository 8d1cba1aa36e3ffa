"""`clear_cache`: clear one cache alias (or all) by prefix, by pattern within one, or flush a Redis database.

Never FLUSHDB unless --flush --yes: clearing deletes only the alias's own keys, by SCAN. A
local-memory alias is cleared in every web process of the running portal (the command
waits for their answers).
"""

from django.conf import settings
from django.core.management.base import CommandError

from opsadmin.management.cli import OpsCommand
from opsadmin.spine import registry
from opsadmin.spine.runs import InvalidArguments, validate, validate_before_confirming


class Command(OpsCommand):
    help = (
        "Clear a cache alias's keys (its prefix and version, by SCAN in batches), only those matching "
        "--pattern within it, every alias with --all, or with --flush --yes the alias's whole Redis database."
    )

    def add_arguments(self, parser):
        parser.add_argument("--alias", default="default", help="The cache alias (default: default).")
        parser.add_argument("--pattern", help="Only keys matching this glob after the alias's prefix:version:.")
        parser.add_argument("--all", action="store_true", help="Clear every alias, each by its own prefix.")
        parser.add_argument("--flush", action="store_true", help="FLUSHDB the alias's Redis database (needs --yes).")
        parser.add_argument("--yes", action="store_true", help="Confirm --flush.")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")

    def handle(self, *args, **options):
        if options["flush"]:
            runs = [self.run_write(registry.get_write("flush_redis_db"), self.flush_data(options), options)]
        else:
            if options["all"] and options["pattern"]:
                raise CommandError("--all clears whole aliases; give --pattern with one --alias", returncode=2)
            if options["pattern"] == "":
                raise CommandError("--pattern is empty; leave it out to clear the whole alias", returncode=2)
            write = registry.get_write("clear_cache")
            aliases = list(settings.CACHES) if options["all"] else [options["alias"]]
            forms = [
                {"alias": alias, "pattern": options["pattern"] or "", "dry_run": options["dry_run"]}
                for alias in aliases
            ]
            for data in forms:  # every alias checked before any is cleared: nothing half done
                try:
                    validate(write.form_class, data)
                except InvalidArguments as invalid:
                    raise CommandError(str(invalid), returncode=2) from None
            runs = [self.run_write(write, data, options) for data in forms]
        self.exit_for(runs)

    def flush_data(self, options):
        """--yes stands for typing the database number; without it, say which database would go."""
        if options["pattern"] or options["all"] or options["dry_run"]:
            raise CommandError("--flush takes only --alias and --yes", returncode=2)
        write = registry.get_write("flush_redis_db")
        try:
            confirmation = write.confirmation(validate_before_confirming(write.form_class, {"alias": options["alias"]}))
        except InvalidArguments as invalid:
            raise CommandError(str(invalid), returncode=2) from None
        if not options["yes"]:
            raise CommandError(
                f"--flush would {confirmation.action[0].lower()}{confirmation.action[1:]}: add --yes", returncode=2
            )
        return {"alias": options["alias"], "confirm": confirmation.typed}
