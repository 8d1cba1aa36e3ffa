"""API tokens in the admin: created here (shown once), revocable, never editable afterwards.

A token acts as its user: only a superuser may issue one for someone else, and an ops
token only for a staff user. The list says which tokens still work, and why not.
"""

from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from unfold.admin import ModelAdmin
from unfold.decorators import action, display

from portal.accounts.models import ApiToken
from portal.accounts.tokens import revoke_tokens, save_new_token

TOKEN_STATES = {
    "works": "success",
    "revoked": "default",
    "expired": "default",
    "user inactive": "danger",
    "user not staff": "danger",
}


class ApiTokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ("user", "name", "scope", "expires_at")

    def clean(self):
        cleaned = super().clean()
        user = cleaned.get("user")
        if user is not None and cleaned.get("scope") == ApiToken.Scope.OPS and not user.is_staff:
            self.add_error("scope", f"{user} is not staff: an ops token acts only for staff users.")
        return cleaned


@admin.register(ApiToken)
class ApiTokenAdmin(ModelAdmin):
    form = ApiTokenForm
    list_display = ("name", "user", "scope", "state", "revoked_because", "prefix", "created_at", "last_used_at")
    list_filter = ("scope", "revoked_at")
    list_select_related = ("user",)
    search_fields = ("name", "prefix", "user__username")
    autocomplete_fields = ("user",)
    actions = ["revoke"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # A token acts with its user's permissions: only a superuser may issue one for someone else.
        if db_field.name == "user" and not request.user.is_superuser:
            kwargs["queryset"] = db_field.related_model.objects.filter(pk=request.user.pk)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        # Existing tokens are read-only: revoke and create a new one instead.
        return obj is None and super().has_change_permission(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if obj:
            return [field.name for field in ApiToken._meta.fields if field.name not in ("id", "digest")]
        return ()

    def save_model(self, request, obj, form, change):
        if change:
            return
        token = save_new_token(obj, by=request.user, door="admin")
        messages.warning(request, f"{obj.scope} token for {obj.user}: {token} — copy it now; it is not shown again.")

    @display(description="State", label=TOKEN_STATES)
    def state(self, token):
        """Whether it works now, or why not (checked as the access policy checks it)."""
        if token.revoked_at is not None:
            return "revoked"
        if token.expires_at is not None and token.expires_at <= timezone.now():
            return "expired"
        if not token.user.is_active:
            return "user inactive"
        if token.scope == ApiToken.Scope.OPS and not token.user.is_staff:
            return "user not staff"
        return "works"

    def has_delete_permission(self, request, obj=None):
        # Revoked, never deleted: a revocation is audited and the row keeps saying who had what.
        return False

    def has_revoke_permission(self, request):
        return request.user.has_perm(f"{self.opts.app_label}.delete_apitoken")

    @action(description="Revoke selected tokens", permissions=["revoke"])
    def revoke(self, request, queryset):
        count = revoke_tokens(queryset, by=request.user, door="admin")
        self.message_user(request, f"Revoked {count} token{'s' if count != 1 else ''}.", messages.SUCCESS)
