"""API tokens: bearer credentials that act as their user, for one surface (their scope)."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    """A bearer token acting as its user with that user's permissions, on the surface of its scope.

    Only a SHA-256 digest is stored; the token itself is shown once at creation.
    `prefix` (the public first part of the token) finds the row without a scan. A password
    change revokes its user's ops tokens, as it ends the user's sessions.
    """

    class Scope(models.TextChoices):
        OPS = "ops", "Ops API (staff)"
        SCANNER = "scanner", "Scanner API"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What uses this token, e.g. 'deploy script'.")
    scope = models.CharField(
        max_length=16, choices=Scope.choices, default=Scope.OPS, help_text="The API this token opens, and no other."
    )
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty means it does not expire.")
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_because = models.CharField(max_length=100, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        # The table keeps the name it had when tokens lived in the ops app: moving the
        # model cost no table rewrite, and its index names stay what migrations made.
        db_table = "opsadmin_apitoken"
        verbose_name = "API token"
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    def is_usable(self, now=None):
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
