"""`create_api_token USERNAME [--scope ops|scanner]`: issue an API token for scripts; printed once."""

import json
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from portal.accounts.management.text import refuse_unstorable
from portal.accounts.models import ApiToken
from portal.accounts.tokens import issue_token

NAME_MAX_LENGTH = ApiToken._meta.get_field("name").max_length
MAX_EXPIRES_DAYS = 36_500  # a century: beyond that, leave the expiry empty (never)


class Command(BaseCommand):
    help = "Create an API token for USERNAME and print it once (only its digest is stored)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="created from the command line", help="What uses the token.")
        parser.add_argument(
            "--scope",
            choices=ApiToken.Scope.values,
            default=ApiToken.Scope.OPS,
            help="The API it opens: ops (staff users only, the default) or scanner.",
        )
        parser.add_argument("--expires-days", type=int, help="Days until it expires (default: never).")
        parser.add_argument("--json", action="store_true", help="Print a JSON object instead of the bare token.")

    def handle(self, *args, username, name, scope, expires_days, **options):
        refuse_unstorable(username=username, name=name)
        if not name.strip() or len(name) > NAME_MAX_LENGTH:
            raise CommandError(
                f"--name must say what uses the token in 1 to {NAME_MAX_LENGTH} characters", returncode=2
            )
        if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRES_DAYS:
            raise CommandError(f"--expires-days must be between 1 and {MAX_EXPIRES_DAYS}", returncode=2)
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}", returncode=2)
        if not user.is_active:
            raise CommandError(f"user {username!r} is inactive; a token for it would not work", returncode=2)
        if scope == ApiToken.Scope.OPS and not user.is_staff:
            raise CommandError(
                f"user {username!r} is not staff; an ops token acts only for staff (use --scope scanner for "
                "the scanner API)",
                returncode=2,
            )
        expires_in = timedelta(days=expires_days) if expires_days else None
        record, token = issue_token(user, name, expires_in, scope)
        if options["json"]:
            self.stdout.write(self.as_json(record, token))
        else:
            self.stdout.write(token)
            expiry = f"expires {record.expires_at:%Y-%m-%d %H:%M} UTC" if record.expires_at else "never expires"
            self.stderr.write(f"{record.scope} token {record.prefix}… for {username} ({expiry}). It is shown only now.")

    @staticmethod
    def as_json(record, token):
        expires = record.expires_at.isoformat() if record.expires_at else None
        return json.dumps(
            {
                "token": token,
                "id": record.pk,
                "user": record.user.username,
                "scope": record.scope,
                "expires_at": expires,
            }
        )
