"""`clear_cache`: clear one cache alias (or all) by prefix, by pattern within one, or flush a Redis database.

Never FLUSHDB unless --flush --yes: clearing deletes only the alias's own keys, by SCAN.
"""

from django.conf import settings
from django.core.cache import caches
from django.core.management.base import CommandError

from opsadmin.cli import WriteCommand
from opsadmin.operations.caches.clearing import runs_in_process
from opsadmin.operations.caches.inventory import redis_target
from opsadmin.operations.declaration import get_write
from opsadmin.runs import InvalidArguments, validate


class Command(WriteCommand):
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
            runs = [self.run_write("flush_redis_db", self.flush_data(options), options)]
        else:
            if options["all"] and options["pattern"]:
                raise CommandError("--all clears whole aliases; give --pattern with one --alias", returncode=2)
            if options["pattern"] == "":
                raise CommandError("--pattern is empty; leave it out to clear the whole alias", returncode=2)
            aliases = list(settings.CACHES) if options["all"] else [options["alias"]]
            data = {"pattern": options["pattern"] or "", "dry_run": options["dry_run"]}
            forms = [{**data, "alias": alias} for alias in aliases]
            for form_data in forms:  # every alias checked before any is cleared: nothing half done
                self.check_clearable(form_data)
            runs = [self.run_write("clear_cache", form_data, options) for form_data in forms]
        self.exit_for(runs)

    def check_clearable(self, form_data):
        """Bad arguments, or a local-memory cache (it lives in each server process, not in this one), exit 2."""
        try:
            cleaned = validate(get_write("clear_cache"), form_data)
        except InvalidArguments as invalid:
            raise CommandError(str(invalid), returncode=2) from None
        if runs_in_process(cleaned["alias"]):
            raise CommandError(
                f"{cleaned['alias']} is a local-memory cache: each server process has its own, and this command "
                "would only clear its own. Clear it from the Caches page or the API of the running portal.",
                returncode=2,
            )

    def flush_data(self, options):
        """--yes stands for typing the database number; without it, say which database would go."""
        alias = options["alias"]
        if options["pattern"] or options["all"] or options["dry_run"]:
            raise CommandError("--flush takes only --alias and --yes", returncode=2)
        target = redis_target(caches[alias]) if alias in settings.CACHES else None
        if not options["yes"]:
            where = f"database {target.db} of {target.address}" if target else f"the database of {alias!r}"
            raise CommandError(f"--flush deletes every key in {where}, other aliases' too: add --yes", returncode=2)
        return {"alias": alias, "confirm": str(target.db) if target else ""}
