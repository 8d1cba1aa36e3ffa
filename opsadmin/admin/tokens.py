"""API tokens in the admin: created here (shown once), revocable, never editable afterwards."""

from django import forms
from django.contrib import admin, messages
from unfold.admin import ModelAdmin
from unfold.decorators import action

from opsadmin.models import ApiToken
from opsadmin.tokens import digest, new_token_value, revoke_tokens


class ApiTokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ("user", "name", "expires_at")


@admin.register(ApiToken)
class ApiTokenAdmin(ModelAdmin):
    form = ApiTokenForm
    list_display = ("name", "user", "prefix", "created_at", "expires_at", "revoked_at", "last_used_at")
    list_filter = ("revoked_at",)
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
        return ("user", "name", "expires_at", "prefix", "created_at", "revoked_at", "last_used_at") if obj else ()

    def save_model(self, request, obj, form, change):
        if change:
            return
        obj.prefix, token = new_token_value()
        obj.digest = digest(token)
        super().save_model(request, obj, form, change)
        messages.warning(request, f"Token for {obj.user}: {token} — copy it now; it is not shown again.")

    @action(description="Revoke selected tokens", permissions=["delete"])
    def revoke(self, request, queryset):
        count = revoke_tokens(queryset)
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)
