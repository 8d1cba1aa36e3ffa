"""Runs keep the title they ran under, a refused attempt of a destructive write is a run of its own
(status "refused"), and the portal itself can be the door (a password change revoking ops tokens).

Existing runs keep an empty title: the pages fall back to their operation's name.
"""

from django.db import migrations, models


def refused_as_failed(apps, schema_editor):
    """Going back: the previous code knows no refused run; to it, one failed (and is finished)."""
    runs = apps.get_model("opsadmin", "OpsRun").objects.using(schema_editor.connection.alias)
    runs.filter(status="refused").update(status="failed")


class Migration(migrations.Migration):
    dependencies = [
        ("opsadmin", "0006_runs_requested_targets_and_channel"),
    ]

    operations = [
        migrations.AddField(
            model_name="opsrun",
            name="title",
            field=models.CharField(blank=True, help_text="What it was called when it ran.", max_length=200),
        ),
        migrations.AlterField(
            model_name="opsrun",
            name="actor",
            field=models.CharField(help_text="User name, token, or cli:user@host.", max_length=150),
        ),
        migrations.AlterField(
            model_name="opsrun",
            name="door",
            field=models.CharField(
                choices=[
                    ("admin", "Admin"),
                    ("api", "API"),
                    ("cli", "Command line"),
                    ("task", "Task worker"),
                    ("portal", "The portal"),
                ],
                max_length=8,
            ),
        ),
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
                    ("refused", "Refused"),
                ],
                default="requested",
                max_length=16,
            ),
        ),
        migrations.RunPython(migrations.RunPython.noop, refused_as_failed),
    ]
