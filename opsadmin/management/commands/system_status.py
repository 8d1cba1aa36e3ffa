"""`system_status`: health, instances and recent ops runs at a glance; exit 1 when something is wrong."""

import json

from django.core.management.base import BaseCommand, CommandError

from opsadmin.operations.status import system_status


class Command(BaseCommand):
    help = "Everything at a glance: health checks, instances, recent ops runs. Exit 1 when a section is not ok."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the full status as JSON.")

    def handle(self, *args, **options):
        status = system_status()
        if options["json"]:
            self.stdout.write(json.dumps(status, indent=2, default=str))
        else:
            self.print_table(status)
        if not status["ok"]:
            failing = ", ".join(name for name, section in status["sections"].items() if not section["ok"])
            raise CommandError(f"not ok: {failing}", returncode=1)

    def print_table(self, status):
        sections = status["sections"]
        health = sections["health"]
        self.stdout.write(f"Health: {health['status']}")
        for check in health["checks"]:
            critical = " (critical)" if check["critical"] else ""
            self.stdout.write(f"  {check['name']:<16} {check['status']:<9} {check['message']}{critical}")
        instances = sections["instances"]
        self.stdout.write(
            f"Instances: {instances['serving']} serving, {instances['draining']} draining, {instances['gone']} gone"
        )
        for instance in instances["instances"]:
            self.stdout.write(f"  {instance['id']:<28} {instance['state']:<9} {instance['version']}")
        database = sections["database"]
        broken = database["missing_indexes"] + database["invalid_indexes"]
        self.stdout.write(
            f"Database: {'declared indexes ok' if database['ok'] else 'index problems: ' + ', '.join(broken)}"
        )
        caches = sections["caches"]
        ratio = "n/a" if caches["hit_ratio"] is None else f"{caches['hit_ratio']:.1%}"
        self.stdout.write(f"Caches: hit ratio {ratio}" + "".join(f"; {error}" for error in caches["errors"]))
        runs = sections["runs"]
        self.stdout.write(f"Ops runs: {runs['running']} running, {runs['failed_last_24h']} failed in the last 24 h")
        for run in runs["recent"]:
            self.stdout.write(f"  #{run['id']:<6} {run['operation']:<20} {run['status']:<10} {run['summary']}")
