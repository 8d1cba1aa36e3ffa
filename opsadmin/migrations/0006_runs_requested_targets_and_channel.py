"""Runs keep when they were asked for apart from when they started, say where they run, and
can be sent to processes: the command channel's RunTarget rows, one per process and run.

Existing runs: asked for when they started (what was recorded); a queued one has not started.
"""

import django.core.serializers.json
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


def requested_when_started(apps, schema_editor):
    OpsRun = apps.get_model("opsadmin", "OpsRun")
    runs = OpsRun.objects.using(schema_editor.connection.alias)
    runs.update(requested_at=models.F("started_at"))
    runs.filter(status="queued").update(started_at=None)


def statuses_the_old_code_knows(apps, schema_editor):
    """Going back: a requested run is queued for the old code, a partly failed one failed (and fits its column)."""
    runs = apps.get_model("opsadmin", "OpsRun").objects.using(schema_editor.connection.alias)
    runs.filter(status="requested").update(status="queued")
    runs.filter(status="partly_failed").update(status="failed")


def started_when_requested(apps, schema_editor):
    OpsRun = apps.get_model("opsadmin", "OpsRun")
    OpsRun.objects.using(schema_editor.connection.alias).filter(started_at=None).update(
        started_at=models.F("requested_at")
    )


class Migration(migrations.Migration):
    dependencies = [("opsadmin", "0005_api_tokens_moved_to_accounts")]

    operations = [
        migrations.AddField(
            model_name="opsrun",
            name="requested_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.AlterField(
            model_name="opsrun",
            name="started_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(requested_when_started, started_when_requested),
        migrations.AlterField(
            model_name="opsrun",
            name="status",
            field=models.CharField(
                choices=[
                    ("requested", "Requested"),
                    ("queued", "Queued"),
                    ("running", "Running"),
                    ("succeeded", "Succeeded"),
                    ("failed", "Failed"),
                    ("partly_failed", "Partly failed"),
                ],
                default="requested",
                max_length=16,
            ),
        ),
        migrations.RunPython(migrations.RunPython.noop, statuses_the_old_code_knows),
        migrations.AddField(
            model_name="opsrun",
            name="target",
            field=models.CharField(
                blank=True,
                choices=[
                    ("here", "Here"),
                    ("task_worker", "Task worker"),
                    ("every_web_process", "Every web process"),
                    ("one_process", "One process"),
                ],
                help_text="Where it runs.",
                max_length=20,
            ),
        ),
        migrations.AddField(
            model_name="opsrun",
            name="ran_on",
            field=models.CharField(blank=True, help_text="The process that did the work.", max_length=255),
        ),
        migrations.AlterModelOptions(
            name="opsrun",
            options={
                "default_permissions": ("view",),
                "ordering": ["-requested_at", "-id"],
                "permissions": [
                    ("view_ops", "Can view ops pages and status"),
                    ("run_index_optimization", "Can run database index optimization"),
                    ("clear_cache", "Can clear caches"),
                    ("reset_breaker", "Can reset circuit breakers"),
                    ("manage_memory", "Can run memory management"),
                    ("drain_instance", "Can drain and resume instances"),
                ],
                "verbose_name": "ops run",
            },
        ),
        migrations.RemoveIndex(model_name="opsrun", name="opsrun_recent_idx"),
        migrations.RemoveIndex(model_name="opsrun", name="opsrun_operation_idx"),
        migrations.AddIndex(
            model_name="opsrun",
            index=models.Index(fields=["-requested_at"], name="opsrun_recent_idx"),
        ),
        migrations.AddIndex(
            model_name="opsrun",
            index=models.Index(fields=["operation", "-requested_at"], name="opsrun_operation_idx"),
        ),
        migrations.CreateModel(
            name="RunTarget",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("instance", models.CharField(help_text='The instance, "host:port".', max_length=255)),
                ("pid", models.PositiveIntegerField()),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("running", "Running"),
                            ("succeeded", "Succeeded"),
                            ("failed", "Failed"),
                            ("no_answer", "No answer"),
                        ],
                        default="pending",
                        max_length=16,
                    ),
                ),
                ("summary", models.CharField(blank=True, max_length=500)),
                (
                    "result",
                    models.JSONField(blank=True, encoder=django.core.serializers.json.DjangoJSONEncoder, null=True),
                ),
                ("error", models.TextField(blank=True)),
                ("expires_at", models.DateTimeField(help_text="An answer later than this does not count.")),
                ("started_at", models.DateTimeField(blank=True, null=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "run",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="targets",
                        to="opsadmin.opsrun",
                    ),
                ),
            ],
            options={
                "ordering": ["run", "instance", "pid"],
                "indexes": [
                    models.Index(
                        condition=models.Q(("status", "pending")), fields=["instance", "pid"], name="runtarget_pending_idx"
                    ),
                    models.Index(
                        condition=models.Q(("status__in", ["pending", "running"])),
                        fields=["expires_at"],
                        name="runtarget_open_idx",
                    ),
                ],
                "constraints": [
                    models.UniqueConstraint(fields=("run", "instance", "pid"), name="runtarget_run_process_uniq")
                ],
            },
        ),
    ]
