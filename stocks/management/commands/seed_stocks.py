"""`seed_stocks`: fill the database with deterministic synthetic stocks and daily bars."""

import json

from django.core.management.base import BaseCommand, CommandError

from stocks.seeding import DEFAULT_END_DATE, SeedForm, SeedRefused, seed_stocks


class Command(BaseCommand):
    help = (
        "Create N synthetic stocks with D weekdays of daily bars each. The same --stocks/--days/--seed/--end-date "
        "always give the same rows. Exit status: 0 done (or skipped by --if-empty), 1 refused because stocks "
        "exist, 2 bad arguments."
    )

    def add_arguments(self, parser):
        # No argparse types: SeedForm checks the values, so every mistake gets the same message and exit 2.
        parser.add_argument("--stocks", default=500, help="How many stocks (default: 500).")
        parser.add_argument("--days", default=252, help="Trading days of bars per stock (default: 252).")
        parser.add_argument("--seed", default=1, help="Random seed, 0 or more (default: 1).")
        parser.add_argument(
            "--end-date",
            help=f"Last trading day, YYYY-MM-DD; a weekend means the Friday before (default: {DEFAULT_END_DATE}).",
        )
        parser.add_argument("--if-empty", action="store_true", help="Do nothing if the database has stocks.")
        parser.add_argument("--replace", action="store_true", help="Delete existing stocks and their bars first.")
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args, **options):
        form = SeedForm(options)
        if not form.is_valid():
            raise CommandError(form_errors(form), returncode=2)
        try:
            report = seed_stocks(**form.cleaned_data)
        except SeedRefused as refusal:
            raise CommandError(str(refusal), returncode=1) from None
        if options["json"]:
            self.stdout.write(json.dumps(report.to_dict()))
        elif report.skipped:
            self.stdout.write(
                f"The database already has {report.existing_stocks:,} stocks: nothing seeded (--if-empty)."
            )
        else:
            replaced = f", replacing {report.existing_stocks:,} stocks" if report.replaced else ""
            self.stdout.write(
                f"Seeded {report.stocks:,} stocks and {report.bars:,} daily bars ({report.start_date} to "
                f"{report.end_date}){replaced} in {report.seconds:.1f} s: {report.bars_per_second:,.0f} bars/s "
                f"({report.database}, {report.method})."
            )


def form_errors(form):
    """Form errors as command-line text: `--days: Ensure this value is greater than or equal to 1.`"""
    lines = []
    for field, messages in form.errors.items():
        option = "" if field == "__all__" else f"--{field.replace('_', '-')}: "
        lines.extend(option + message for message in messages)
    return "\n".join(lines)
