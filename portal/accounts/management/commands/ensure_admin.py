"""`ensure_admin`: make sure the local `admin` superuser exists and print how to log in."""

from django.core.management.base import BaseCommand

from portal.accounts.local_admin import PASSWORD_ENV, ensure_local_admin


class Command(BaseCommand):
    help = (
        "Create the superuser 'admin' if missing. Password: $PORTAL_ADMIN_PASSWORD, else one generated "
        "once and kept in .local/admin-password. Used by `make run`."
    )

    def handle(self, *args, **options):
        account = ensure_local_admin()
        state = "created" if account.created else "exists"
        if account.source == PASSWORD_ENV:
            self.stdout.write(f"Admin user '{account.username}' {state}; password from ${PASSWORD_ENV}.")
        elif account.password is None:
            self.stdout.write(f"Admin user '{account.username}' {state}; password {account.source}.")
        else:
            self.stdout.write(
                f"Admin user '{account.username}' {state}; password: {account.password}  (from {account.source})"
            )
