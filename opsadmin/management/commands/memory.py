"""`memory [--gc] [--json]`: this process's memory figures and the fleet's, from the command line.

`--gc` runs a full collection in this process first and reports it with its memory before and
after (the fleet's workers are collected from the Memory page, or `ops run collect_garbage`).
Exit 1 while the fleet's section is not ok, as `system_status` would say.
"""

from django.core.management.base import CommandError

from opsadmin.management.cli import OpsCommand
from opsadmin.operations.memory import collecting
from opsadmin.spine import humanize, registry
from opsadmin.spine.results import to_json


class Command(OpsCommand):
    help = "This process's memory and every live worker's; --gc collects garbage here first (exit 1 on a problem)."

    def add_arguments(self, parser):
        parser.add_argument("--gc", action="store_true", help="Run a full garbage collection in this process first.")

    def handle(self, *args, gc, **options):
        collection = collecting.collect() if gc else None
        capability = registry.get_capability("memory")
        section = capability.status_read.function()
        if options["json"]:
            self.stdout.write(to_json({"collection": collection, **vars(section)}, indent=2))
        else:
            if collection:
                self.stdout.write(
                    f"Collected {humanize.plural(collection.collected, 'object')} here: RSS "
                    f"{humanize.byte_size(collection.rss_before_bytes)} -> "
                    f"{humanize.byte_size(collection.rss_after_bytes)}, USS "
                    f"{humanize.bytes_if_available(collection.uss_before_bytes)} -> "
                    f"{humanize.bytes_if_available(collection.uss_after_bytes)}"
                )
            here = section.data.this_process
            self.stdout.write(
                f"This process: {humanize.byte_size(here['rss_bytes'])} RSS, "
                f"{humanize.named_figure(here['uss_bytes'], 'USS', humanize.byte_size)}, "
                f"{humanize.named_figure(here.get('open_files'), 'open files')}, "
                f"{humanize.plural(here['threads'], 'thread')}, GC frozen {humanize.count(here['gc']['frozen'])}"
            )
            self.print_section(capability.title, section)
        if not section.ok:
            raise CommandError(f"memory: {section.status}", returncode=1)
