"""Tokens get a scope (ops or scanner; existing tokens are ops tokens) and say why they were revoked."""

from django.db import migrations, models


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
            name="revoked_because",
            field=models.CharField(blank=True, editable=False, max_length=100),
        ),
    ]
