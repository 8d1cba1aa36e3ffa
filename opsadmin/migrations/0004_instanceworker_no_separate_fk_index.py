"""The worker unique constraint (instance, pid) already indexes instance_id."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('opsadmin', '0003_instances'),
    ]

    operations = [
        migrations.AlterField(
            model_name='instanceworker',
            name='instance',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='workers', to='opsadmin.instance'),
        ),
    ]
