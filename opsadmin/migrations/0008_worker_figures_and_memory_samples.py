"""Each process publishes its figures with its heartbeat (one JSON document per worker), and its resident
memory is kept a while per beat for the Memory page's chart. The figures column has a database default, so
an instance still on the previous release keeps beating during a rolling upgrade."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('opsadmin', '0007_runs_titled_refused_and_portal_door'),
    ]

    operations = [
        migrations.AddField(
            model_name='instanceworker',
            name='figures',
            field=models.JSONField(blank=True, db_default=models.Value({}, output_field=models.JSONField()), default=dict),
        ),
        migrations.CreateModel(
            name='MemorySample',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('pid', models.PositiveIntegerField()),
                ('at', models.DateTimeField()),
                ('rss_bytes', models.BigIntegerField()),
                ('instance', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='memory_samples', to='opsadmin.instance')),
            ],
            options={
                'ordering': ['instance', 'pid', 'at'],
                'indexes': [models.Index(fields=['instance', 'pid', 'at'], name='memorysample_worker_at_idx'), models.Index(fields=['at'], name='memorysample_at_idx')],
            },
        ),
    ]
