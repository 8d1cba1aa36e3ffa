"""The audit log (OpsRun), API tokens and the ops permissions."""

import django.core.serializers.json
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ApiToken',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(help_text="What uses this token, e.g. 'deploy script'.", max_length=100)),
                ('prefix', models.CharField(editable=False, max_length=16, unique=True)),
                ('digest', models.CharField(editable=False, max_length=64)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('expires_at', models.DateTimeField(blank=True, help_text='Empty means it does not expire.', null=True)),
                ('revoked_at', models.DateTimeField(blank=True, editable=False, null=True)),
                ('last_used_at', models.DateTimeField(blank=True, editable=False, null=True)),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='api_tokens', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'API token',
                'ordering': ['-created_at'],
            },
        ),
        migrations.CreateModel(
            name='OpsRun',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('operation', models.CharField(max_length=64)),
                ('door', models.CharField(choices=[('admin', 'Admin'), ('api', 'API'), ('cli', 'Command line'), ('task', 'Task worker')], max_length=8)),
                ('actor', models.CharField(help_text="User name, token, or 'cli'.", max_length=150)),
                ('arguments', models.JSONField(blank=True, default=dict, encoder=django.core.serializers.json.DjangoJSONEncoder)),
                ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed')], default='running', max_length=10)),
                ('summary', models.CharField(blank=True, max_length=500)),
                ('result', models.JSONField(blank=True, encoder=django.core.serializers.json.DjangoJSONEncoder, null=True)),
                ('progress', models.JSONField(blank=True, encoder=django.core.serializers.json.DjangoJSONEncoder, null=True)),
                ('error', models.TextField(blank=True)),
                ('started_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('user', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'ops run',
                'ordering': ['-started_at', '-id'],
                'permissions': [('view_ops', 'Can view ops pages and status'), ('run_index_optimization', 'Can run database index optimization'), ('clear_cache', 'Can clear caches'), ('reset_breaker', 'Can reset circuit breakers'), ('manage_memory', 'Can run memory management'), ('drain_instance', 'Can drain and resume instances')],
                'default_permissions': ('view',),
                'indexes': [models.Index(fields=['-started_at'], name='opsrun_recent_idx'), models.Index(fields=['operation', '-started_at'], name='opsrun_operation_idx')],
            },
        ),
    ]
