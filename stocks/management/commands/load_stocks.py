"""`load_stocks FILE.csv`: import stocks or daily bars from a CSV file (layouts: docs/csv-formats.md)."""

import json

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from stocks.csv_import import CsvFileError, import_csv


class Command(BaseCommand):
    help = (
        "Import stocks (header ticker,name,...) or daily bars (header ticker,date,open,high,low,close,volume) "
        "from a UTF-8 CSV file, upserting by ticker or by (ticker, date); see docs/csv-formats.md. "
        "Bad rows are reported by line number and skipped; the good rows are kept unless --atomic. "
        "Exit status: 0 every row imported; 1 some rows rejected (with --atomic: nothing written); "
        "2 the file can't be imported at all (missing, unreadable, empty, or a header of neither layout)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The CSV file.")
        parser.add_argument("--atomic", action="store_true", help="Write nothing unless every row is good.")
        parser.add_argument("--json", action="store_true", help="Print the report, with every rejected row, as JSON.")

    def handle(self, *args, file, atomic, **options):
        try:
            report = import_csv(file, atomic=atomic)
        except CsvFileError as error:
            raise CommandError(str(error), returncode=2) from None
        except DatabaseError as error:
            raise CommandError(f"the database refused the import, nothing was written: {error}", returncode=1) from None
        if options["json"]:
            self.stdout.write(json.dumps(report.to_dict()))
        else:
            for error in report.rejected_rows:
                self.stderr.write(str(error))
            if report.rejected > len(report.rejected_rows):
                self.stderr.write(f"... and {report.rejected - len(report.rejected_rows):,} more rejected rows")
            self.stdout.write(
                f"{report.file} ({report.layout}): {report.rows:,} rows, {report.created:,} created, "
                f"{report.updated:,} updated, {report.rejected:,} rejected."
            )
        rejected = f"{report.rejected:,} row{'s' if report.rejected != 1 else ''} rejected"
        if report.rolled_back:
            raise CommandError(f"{rejected}; nothing written (--atomic).", returncode=1)
        if report.rejected:
            raise CommandError(f"{rejected}; the others were imported.", returncode=1)
