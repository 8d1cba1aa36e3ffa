"""Instances ("host:port") and their worker processes, written by heartbeats; the drain state lives on the instance."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('opsadmin', '0002_ops_groups'),
    ]

    operations = [
        migrations.CreateModel(
            name='Instance',
            fields=[
                ('id', models.CharField(help_text='"host:port"', max_length=255, primary_key=True, serialize=False)),
                ('host', models.CharField(max_length=255)),
                ('port', models.CharField(help_text='The port it listens on, or "worker" for a task worker.', max_length=16)),
                ('version', models.CharField(blank=True, max_length=64)),
                ('started_at', models.DateTimeField(help_text='When its current run started.')),
                ('last_seen_at', models.DateTimeField()),
                ('drain_requested_at', models.DateTimeField(blank=True, null=True)),
                ('drained_by', models.CharField(blank=True, max_length=150)),
            ],
            options={
                'ordering': ['id'],
            },
        ),
        migrations.CreateModel(
            name='InstanceWorker',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('pid', models.PositiveIntegerField()),
                ('kind', models.CharField(choices=[('web', 'Web'), ('task', 'Task worker')], default='web', max_length=8)),
                ('started_at', models.DateTimeField()),
                ('last_seen_at', models.DateTimeField()),
                ('rss_bytes', models.BigIntegerField(blank=True, null=True)),
                ('instance', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='workers', to='opsadmin.instance')),
            ],
            options={
                'ordering': ['instance', 'kind', 'pid'],
                'constraints': [models.UniqueConstraint(fields=('instance', 'pid'), name='instanceworker_instance_pid_uniq')],
            },
        ),
    ]
