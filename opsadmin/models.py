"""The ops portal's own records: the audit log of operations, API tokens, and the ops permissions."""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

OPS_PERMISSIONS = [
    ("view_ops", "Can view ops pages and status"),
    ("run_index_optimization", "Can run database index optimization"),
    ("clear_cache", "Can clear caches"),
    ("reset_breaker", "Can reset circuit breakers"),
    ("manage_memory", "Can run memory management"),
    ("drain_instance", "Can drain and resume instances"),
]


class OpsRun(models.Model):
    """One write operation, recorded before it starts and updated when it ends.

    A row left `running` after its process died is how a crash shows up.
    """

    class Door(models.TextChoices):
        ADMIN = "admin", "Admin"
        API = "api", "API"
        CLI = "cli", "Command line"
        TASK = "task", "Task worker"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    operation = models.CharField(max_length=64)
    door = models.CharField(max_length=8, choices=Door.choices)
    actor = models.CharField(max_length=150, help_text="User name, token, or 'cli'.")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    arguments = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    summary = models.CharField(max_length=500, blank=True)
    result = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    progress = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "ops run"
        ordering = ["-started_at", "-id"]
        default_permissions = ("view",)
        permissions = OPS_PERMISSIONS
        indexes = [
            models.Index(fields=["-started_at"], name="opsrun_recent_idx"),
            models.Index(fields=["operation", "-started_at"], name="opsrun_operation_idx"),
        ]

    def __str__(self):
        return f"{self.operation} #{self.pk} ({self.status})"


class ApiToken(models.Model):
    """A bearer token for the ops API, acting as its user with that user's permissions.

    Only a SHA-256 digest is stored; the token itself is shown once at creation.
    `prefix` (the public first part of the token) finds the row without a scan.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What uses this token, e.g. 'deploy script'.")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty means it does not expire.")
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API token"
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    def is_usable(self, now=None):
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class Instance(models.Model):
    """A serving place, "host:port", with its drain state.

    Rows are written by the processes' heartbeats (opsadmin.runtime.instances). The
    drain state lives here rather than in the process so that it survives a restart
    until someone resumes the instance.
    """

    id = models.CharField(max_length=255, primary_key=True, help_text='"host:port"')
    host = models.CharField(max_length=255)
    port = models.CharField(max_length=16, help_text='The port it listens on, or "worker" for a task worker.')
    version = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField(help_text="When its current run started.")
    last_seen_at = models.DateTimeField()
    drain_requested_at = models.DateTimeField(null=True, blank=True)
    drained_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.id


class InstanceWorker(models.Model):
    """One process of an instance (a gunicorn worker or a task worker), by pid."""

    class Kind(models.TextChoices):
        WEB = "web", "Web"
        TASK = "task", "Task worker"

    # No index of its own: instanceworker_instance_pid_uniq leads with instance_id.
    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="workers", db_index=False)
    pid = models.PositiveIntegerField()
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.WEB)
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    rss_bytes = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["instance", "kind", "pid"]
        constraints = [models.UniqueConstraint(fields=["instance", "pid"], name="instanceworker_instance_pid_uniq")]

    def __str__(self):
        return f"{self.instance_id} pid {self.pid}"
