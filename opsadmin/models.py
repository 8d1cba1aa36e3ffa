"""The ops portal's own records: the audit log of operations, the fleet of instances, and the ops permissions."""

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
    """One write operation, recorded before it starts and updated until it ends (opsadmin.spine.runs).

    Asked for (requested_at), started where it runs (started_at, ran_on), finished
    (finished_at): three times kept apart, so a queued run shows how long it waited. A
    row left `running` after its process died is how a crash shows up.
    """

    class Door(models.TextChoices):
        ADMIN = "admin", "Admin"
        API = "api", "API"
        CLI = "cli", "Command line"
        TASK = "task", "Task worker"
        PORTAL = "portal", "The portal"  # on its own: a password change revoking ops tokens, a login lockout

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"  # recorded, not handed to where it runs yet
        QUEUED = "queued", "Queued"  # handed over (task queue or command channel), not started
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        PARTLY_FAILED = "partly_failed", "Partly failed"  # some of its target processes failed or never answered
        REFUSED = "refused", "Refused"  # a destructive write asked for wrongly (bad confirmation, protected object)

    class Target(models.TextChoices):
        HERE = "here", "Here"  # the process that took the request
        TASK_WORKER = "task_worker", "Task worker"
        EVERY_WEB_PROCESS = "every_web_process", "Every web process"
        ONE_PROCESS = "one_process", "One process"
        CHOSEN_PROCESSES = "chosen_processes", "Chosen processes"

    operation = models.CharField(max_length=64)
    title = models.CharField(max_length=200, blank=True, help_text="What it was called when it ran.")
    door = models.CharField(max_length=8, choices=Door.choices)
    actor = models.CharField(max_length=150, help_text="User name, token, or cli:user@host.")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    arguments = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    target = models.CharField(max_length=20, choices=Target.choices, blank=True, help_text="Where it runs.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    summary = models.CharField(max_length=500, blank=True)
    result = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    progress = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    error = models.TextField(blank=True)
    ran_on = models.CharField(max_length=255, blank=True, help_text="The process that did the work.")
    request_id = models.CharField(
        max_length=128, blank=True, default="", help_text="The X-Request-ID of the request that asked for it."
    )
    requested_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "ops run"
        ordering = ["-requested_at", "-id"]
        default_permissions = ("view",)
        permissions = OPS_PERMISSIONS
        indexes = [
            models.Index(fields=["-requested_at"], name="opsrun_recent_idx"),
            models.Index(fields=["operation", "-requested_at"], name="opsrun_operation_idx"),
        ]

    def __str__(self):
        return f"{self.title or self.operation} #{self.pk}"

    @property
    def finished(self):
        return self.status in FINISHED_STATUSES

    @property
    def duration(self):
        """Seconds from start to finish (or to now while running); None before it starts."""
        if self.started_at is None:
            return None
        return ((self.finished_at or timezone.now()) - self.started_at).total_seconds()

    @property
    def problems(self):
        """What the run left behind for someone to deal with (its report's `problems`)."""
        return list((self.result or {}).get("problems") or []) if isinstance(self.result, dict) else []


FINISHED_STATUSES = (
    OpsRun.Status.SUCCEEDED,
    OpsRun.Status.FAILED,
    OpsRun.Status.PARTLY_FAILED,
    OpsRun.Status.REFUSED,
)


class RunTarget(models.Model):
    """One process a run was sent to over the command channel, and its answer.

    The channel itself: each process reads its pending rows from its own thread
    (opsadmin.spine.channel), does the work, and answers here; a row still open at
    `expires_at` is marked as never answered.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        NO_ANSWER = "no_answer", "No answer"

    # No index of its own: runtarget_run_process_uniq leads with run_id.
    run = models.ForeignKey(OpsRun, on_delete=models.CASCADE, related_name="targets", db_index=False)
    instance = models.CharField(max_length=255, help_text='The instance, "host:port".')
    pid = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    summary = models.CharField(max_length=500, blank=True)
    result = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    error = models.TextField(blank=True)
    expires_at = models.DateTimeField(help_text="An answer later than this does not count.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "instance", "pid"]
        constraints = [
            models.UniqueConstraint(fields=["run", "instance", "pid"], name="runtarget_run_process_uniq"),
        ]
        indexes = [
            # Every process asks for its own pending work every second: only open rows are indexed.
            models.Index(
                fields=["instance", "pid"], name="runtarget_pending_idx", condition=models.Q(status="pending")
            ),
            # The sweep for targets that never answered.
            models.Index(
                fields=["expires_at"],
                name="runtarget_open_idx",
                condition=models.Q(status__in=["pending", "running"]),
            ),
        ]

    def __str__(self):
        return f"run #{self.run_id} on {self.process}"

    @property
    def process(self):
        return f"{self.instance} pid {self.pid}"


class Instance(models.Model):
    """A serving place, "host:port", with its drain state.

    Rows are written by the processes' heartbeats (opsadmin.runtime.heartbeat). The
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
    stopped_at = models.DateTimeField(
        null=True, blank=True, help_text="When its server last stopped cleanly; its next heartbeat clears it."
    )

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
    # What the process publishes with each beat (memory, garbage collector, requests served...): one JSON
    # document, so a figure added later needs no migration. opsadmin.runtime.memory says what is in it.
    # A database default too: an instance still on the previous release writes its beat without the column.
    figures = models.JSONField(default=dict, db_default=models.Value({}, output_field=models.JSONField()), blank=True)

    class Meta:
        ordering = ["instance", "kind", "pid"]
        constraints = [models.UniqueConstraint(fields=["instance", "pid"], name="instanceworker_instance_pid_uniq")]

    def __str__(self):
        return f"{self.instance_id} pid {self.pid}"


class MemorySample(models.Model):
    """One process's resident memory at one beat: the Memory page's chart, kept for
    PORTAL_MEMORY_HISTORY_SECONDS and pruned by the beats themselves."""

    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="memory_samples", db_index=False)
    pid = models.PositiveIntegerField()
    at = models.DateTimeField()
    rss_bytes = models.BigIntegerField()

    class Meta:
        ordering = ["instance", "pid", "at"]
        indexes = [
            models.Index(fields=["instance", "pid", "at"], name="memorysample_worker_at_idx"),
            models.Index(fields=["at"], name="memorysample_at_idx"),  # pruning, and the fleet's chart
        ]

    def __str__(self):
        return f"{self.instance_id} pid {self.pid} at {self.at:%H:%M:%S}: {self.rss_bytes:,} bytes"


class SizeSample(models.Model):
    """One table's or index's size on disk at one capture (daily, by the task worker): the Database page's
    growth charts, kept for PORTAL_DATABASE_HISTORY_DAYS and pruned at each capture. `index` is "" for the
    table itself (its heap and TOAST), else the index's name."""

    captured_at = models.DateTimeField()
    schema = models.CharField(max_length=128, blank=True)
    table = models.CharField(max_length=128)
    index = models.CharField(max_length=128, blank=True, default="")
    bytes = models.BigIntegerField()

    class Meta:
        ordering = ["captured_at", "schema", "table", "index"]
        indexes = [
            models.Index(fields=["captured_at"], name="sizesample_captured_at_idx"),  # pruning, the window
            models.Index(fields=["table", "captured_at"], name="sizesample_table_idx"),
        ]

    def __str__(self):
        return f"{self.index or self.table} at {self.captured_at:%Y-%m-%d %H:%M}: {self.bytes:,} bytes"


class QueryStatsSample(models.Model):
    """One statement's pg_stat_statements counters at one capture (hourly): cumulative since the statistics were
    last reset, so the chart takes differences between captures. Kept for PORTAL_DATABASE_HISTORY_DAYS."""

    captured_at = models.DateTimeField()
    queryid = models.BigIntegerField()
    query = models.TextField(help_text="The normalised statement, truncated.")
    calls = models.BigIntegerField()
    total_ms = models.FloatField()
    mean_ms = models.FloatField()

    class Meta:
        ordering = ["captured_at", "queryid"]
        indexes = [
            models.Index(fields=["captured_at"], name="querysample_captured_at_idx"),
            models.Index(fields=["queryid", "captured_at"], name="querysample_query_idx"),
        ]

    def __str__(self):
        return f"query {self.queryid} at {self.captured_at:%Y-%m-%d %H:%M}: {self.calls:,} calls"


class AlertIncident(models.Model):
    """One alert's incident: opened when its rule first finds it firing, resolved once it no longer does.

    At most one open incident per `key` (the rule and its labels: "PortalBreakerOpen{breaker=cache}"): the
    partial unique constraint makes a second task worker evaluating at the same moment fail to open another,
    rather than both sending "opened". `last_notified_at` is None until a message about it was queued (never,
    while its rule is silenced): its resolution is announced only when its opening was.
    """

    rule = models.CharField(max_length=64)
    key = models.CharField(max_length=255, help_text='The rule and its labels: "PortalBreakerOpen{breaker=cache}".')
    labels = models.JSONField(default=dict, blank=True)
    severity = models.CharField(max_length=16)
    summary = models.CharField(max_length=500, help_text="What is wrong, in a sentence, as last evaluated.")
    detail = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder, help_text="Value and threshold.")
    opened_at = models.DateTimeField()
    last_firing_at = models.DateTimeField(help_text="The last evaluation that found it firing.")
    resolved_at = models.DateTimeField(null=True, blank=True)
    last_notified_at = models.DateTimeField(null=True, blank=True)
    reminders = models.PositiveIntegerField(default=0)
    acknowledged_by = models.CharField(max_length=150, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(
                fields=["key"], condition=models.Q(resolved_at__isnull=True), name="alertincident_one_open_per_key"
            ),
        ]
        indexes = [models.Index(fields=["-opened_at"], name="alertincident_recent_idx")]

    def __str__(self):
        return f"{self.key} #{self.pk}"


class AlertDelivery(models.Model):
    """One message about an incident on one channel: queued with the change it tells of, then sent.

    An outbox: the evaluation that opens, reminds of or resolves an incident queues its messages in the same
    transaction, and every evaluation sends what is queued or failed before, so a failed delivery is retried
    at the next one (up to PORTAL_ALERTS_DELIVERY_ATTEMPTS), never lost with the process that queued it.
    """

    class Kind(models.TextChoices):
        OPENED = "opened", "Opened"
        REMINDER = "reminder", "Reminder"
        RESOLVED = "resolved", "Resolved"

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"  # retried at the next evaluation while attempts remain
        GAVE_UP = "gave_up", "Gave up"

    incident = models.ForeignKey(AlertIncident, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, help_text="The last attempt's error.")
    queued_at = models.DateTimeField()
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["incident", "queued_at", "id"]
        default_permissions = ()
        indexes = [
            models.Index(fields=["incident", "queued_at"], name="alertdelivery_incident_idx"),
            # Every evaluation looks for what is still to send: only those rows are indexed.
            models.Index(
                fields=["queued_at"],
                name="alertdelivery_unsent_idx",
                condition=models.Q(status__in=["pending", "failed"]),
            ),
        ]

    def __str__(self):
        return f"{self.kind} of incident #{self.incident_id} by {self.channel}: {self.status}"


class AlertSilence(models.Model):
    """A rule silenced until a moment, by whom and why: its incidents are still recorded, no message is sent."""

    rule = models.CharField(max_length=64)
    until = models.DateTimeField()
    reason = models.CharField(max_length=500)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True, help_text="Ended early, by `ended_by`.")
    ended_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        default_permissions = ()
        indexes = [models.Index(fields=["rule", "until"], name="alertsilence_rule_until_idx")]

    def __str__(self):
        return f"{self.rule} silenced until {self.until:%Y-%m-%d %H:%M}"


class AlertRuleState(models.Model):
    """What an evaluator last found for a rule: firing, ok, or not evaluated and why (shown on the Alerts page).

    One row per rule and evaluating host: rules read from a host's own metrics files differ between hosts.
    """

    rule = models.CharField(max_length=64)
    evaluator = models.CharField(max_length=255, help_text="The host whose task worker evaluated it.")
    state = models.CharField(max_length=16)  # firing, ok, not evaluated
    reason = models.CharField(max_length=500, blank=True, help_text="Why it was not evaluated.")
    firing = models.PositiveIntegerField(default=0)
    evaluated_at = models.DateTimeField()
    # What the rule keeps until its next evaluation on this host (counter totals, to make rates of): kept here,
    # not in the process, so a restarted worker or a `manage.py ops run evaluate_alerts` continues the window.
    kept = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["rule", "evaluator"]
        default_permissions = ()
        constraints = [models.UniqueConstraint(fields=["rule", "evaluator"], name="alertrulestate_rule_evaluator_uniq")]

    def __str__(self):
        return f"{self.rule} on {self.evaluator}: {self.state}"
