"""Who got in and who was kept out: django-axes' login attempts and logs, and django-otp's devices, on the
ops site with unfold's look (axes' own registration is off: AXES_ENABLE_ADMIN).

A lockout is lifted with the "Reset" action only, by those who may delete login attempts, and
it is audited (portal.accounts.lockout.reset); deleting rows otherwise is not offered.
"""

from axes import admin as axes_admin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin, messages
from django_otp.plugins.otp_static.admin import StaticDeviceAdmin as OtpStaticDeviceAdmin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin as OtpTOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice
from unfold.admin import ModelAdmin
from unfold.decorators import action

from portal.accounts import lockout

admin.site.unregister(TOTPDevice)
admin.site.unregister(StaticDevice)


@admin.register(AccessAttempt)
class AccessAttemptAdmin(axes_admin.AccessAttemptAdmin, ModelAdmin):
    actions = ["reset_lockout"]

    def has_delete_permission(self, request, obj=None):
        return False  # lifted by the audited reset, never deleted silently

    def has_reset_lockout_permission(self, request):
        return request.user.has_perm("axes.delete_accessattempt")

    @action(description="Reset: let them log in again", permissions=["reset_lockout"])
    def reset_lockout(self, request, queryset):
        count = lockout.reset(queryset, by=request.user, door="admin")
        self.message_user(request, f"Reset {count} login attempt count{'s' if count != 1 else ''}.", messages.SUCCESS)


@admin.register(AccessFailureLog)
class AccessFailureLogAdmin(axes_admin.AccessFailureLogAdmin, ModelAdmin):
    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AccessLog)
class AccessLogAdmin(axes_admin.AccessLogAdmin, ModelAdmin):
    def has_delete_permission(self, request, obj=None):
        return False


class SeenAndDeleted:
    """Another user's devices: seen (never their secrets: OTP_ADMIN_HIDE_SENSITIVE_DATA) and deleted when they
    lost them; only their owner enrols one, on Access → Second factor, where a first code proves it works."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(SeenAndDeleted, OtpTOTPDeviceAdmin, ModelAdmin):
    pass


@admin.register(StaticDevice)
class StaticDeviceAdmin(SeenAndDeleted, OtpStaticDeviceAdmin, ModelAdmin):
    pass
