"""API tokens now belong to portal.accounts (same table): only Django's picture of the model leaves this app."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("opsadmin", "0004_instanceworker_no_separate_fk_index"),
        ("accounts", "0001_move_api_tokens"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="ApiToken")]),
    ]
