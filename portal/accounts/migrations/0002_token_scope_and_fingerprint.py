"""Tokens get a scope (ops or scanner) and, for ops tokens, a fingerprint of their user's password.

Existing tokens are ops tokens; their fingerprint is taken from the password their user
has now, so they keep working until that password changes.
"""

from django.conf import settings
from django.db import migrations, models
from django.utils.crypto import salted_hmac

FINGERPRINT_SALT = "portal.accounts.ApiToken.password_fingerprint"  # as portal/accounts/tokens.py


def fingerprint_existing_tokens(apps, schema_editor):
    ApiToken = apps.get_model("accounts", "ApiToken")
    for token in ApiToken.objects.using(schema_editor.connection.alias).select_related("user"):
        token.password_fingerprint = salted_hmac(
            FINGERPRINT_SALT, token.user.password, secret=settings.SECRET_KEY, algorithm="sha256"
        ).hexdigest()
        token.save(update_fields=["password_fingerprint"])


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_move_api_tokens")]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="scope",
            field=models.CharField(
                choices=[("ops", "Ops API (staff)"), ("scanner", "Scanner API")],
                default="ops",
                help_text="The API this token opens, and no other.",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="password_fingerprint",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.RunPython(fingerprint_existing_tokens, migrations.RunPython.noop),
    ]
