"""`revoke_api_tokens (--prefix PREFIX ... | --user USERNAME)`: revoke API tokens from the command line."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from portal.accounts.management.text import refuse_unstorable
from portal.accounts.models import ApiToken
from portal.accounts.tokens import revoke_tokens

REASON_MAX_LENGTH = ApiToken._meta.get_field("revoked_because").max_length


class Command(BaseCommand):
    help = "Revoke API tokens by prefix (the part before the dot, shown in the admin), or every token of a user."

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--prefix", action="append", default=[], help="A token's prefix; repeat for several.")
        which.add_argument("--user", metavar="USERNAME", help="Every token of this user.")
        parser.add_argument("--scope", choices=ApiToken.Scope.values, help="Only tokens of this scope.")
        parser.add_argument("--because", default="revoked from the command line", help="Why, as the token list shows.")

    def handle(self, *args, prefix, user, scope, because, **options):
        refuse_unstorable(prefix=prefix, user=user, because=because)
        if not because.strip() or len(because) > REASON_MAX_LENGTH:
            raise CommandError(f"--because must say why in 1 to {REASON_MAX_LENGTH} characters", returncode=2)
        tokens = ApiToken.objects.all()
        if user is not None:
            owner = get_user_model().objects.filter(username=user).first()
            if owner is None:
                raise CommandError(f"no user named {user!r}", returncode=2)
            tokens = tokens.filter(user=owner)
        else:
            known = set(tokens.filter(prefix__in=prefix).values_list("prefix", flat=True))
            if unknown := [item for item in prefix if item not in known]:
                raise CommandError(f"no token with prefix {', '.join(unknown)}: nothing revoked", returncode=2)
            tokens = tokens.filter(prefix__in=prefix)
        if scope:
            tokens = tokens.filter(scope=scope)
        count = revoke_tokens(tokens, because.strip())
        self.stdout.write(f"Revoked {count} token{'s' if count != 1 else ''}." if count else "No token to revoke.")
