"""Command-line text the database can't store (NUL, unpaired surrogates) refused before any query."""

from django.core.management.base import CommandError

from portal.text import storable_text


def refuse_unstorable(**values):
    """Exit 2 naming the first argument whose text PostgreSQL would refuse; None values are skipped."""
    for option, value in values.items():
        items = value if isinstance(value, list) else [value]
        if any(isinstance(item, str) and not storable_text(item) for item in items):
            raise CommandError(f"{option}: null characters and unpaired surrogates are not allowed", returncode=2)
