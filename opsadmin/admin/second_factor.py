"""The admin's second-factor pages: enrol a TOTP device (and renew recovery codes, or remove it), and verify
a session with a code. Thin views over portal.accounts.second_factor.

Managing a factor already enrolled needs a session verified by it: else a stolen password
alone could remove it and enrol another.
"""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.generic import View
from django_otp import user_has_device
from unfold.views import UnfoldSiteViewMixin
from unfold.widgets import UnfoldAdminTextInputWidget

from portal.accounts import second_factor


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=16,
        widget=UnfoldAdminTextInputWidget(attrs={"autocomplete": "one-time-code", "autofocus": True}),
        help_text="The 6 digits your authenticator app shows, or one of your recovery codes.",
    )


def next_page(request):
    """Where to go once done: the page the gate stopped, if it is ours, else the dashboard."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse("admin:index")


class SecondFactorView(UnfoldSiteViewMixin, View):
    permission_required = ()  # any staff user: the admin site lets only them in

    def render(self, template, status=200, **context):
        context = self.get_context_data(next=next_page(self.request), **context)
        return TemplateResponse(self.request, template, context, status=status)


class ManageSecondFactor(SecondFactorView):
    """Enrol (secret as QR code and text, confirmed by a first code; recovery codes shown once), renew, remove."""

    title = "Second factor"
    template = "admin/second_factor.html"

    def dispatch(self, request, *args, **kwargs):
        if user_has_device(request.user) and not request.user.is_verified():
            here = request.get_full_path()
            return redirect(f"{reverse('admin:second_factor_verify')}?{urlencode({'next': here})}")
        return super().dispatch(request, *args, **kwargs)

    def get(self, request):
        return self.page(CodeForm())

    def post(self, request):
        action = request.POST.get("action")
        if action == "remove":
            second_factor.remove(request.user)
            messages.success(request, "Your second factor and recovery codes are removed.")
            return redirect("admin:second_factor")
        if action == "renew" and second_factor.enrolled_device(request.user):
            return self.page(CodeForm(), recovery_codes=second_factor.new_recovery_codes(request.user))
        form = CodeForm(request.POST)
        if form.is_valid():
            if codes := second_factor.confirm(request, form.cleaned_data["code"]):
                return self.page(CodeForm(), recovery_codes=codes)
            form.add_error("code", "That code is not the one your app shows now: try the next one.")
        return self.page(form, status=400)

    def page(self, form, status=200, recovery_codes=None):
        user = self.request.user
        device = second_factor.enrolled_device(user)
        context = {"form": form, "device": device, "recovery_codes": recovery_codes}
        context["otp_required"] = settings.PORTAL_OTP_REQUIRED
        if device is None:
            pending = second_factor.pending_device(user)
            context.update(qr_svg=second_factor.qr_svg(pending), secret=second_factor.secret_text(pending))
        else:
            context["codes_left"] = second_factor.recovery_codes_left(user)
        return self.render(self.template, status=status, **context)


class VerifySecondFactor(SecondFactorView):
    """After the password: a code from the enrolled device, or a recovery code (used up)."""

    title = "Second factor"
    template = "admin/second_factor_verify.html"

    def dispatch(self, request, *args, **kwargs):
        if not user_has_device(request.user):
            return redirect("admin:second_factor")
        if request.user.is_verified():
            return redirect(next_page(request))
        return super().dispatch(request, *args, **kwargs)

    def get(self, request):
        return self.render(self.template, form=CodeForm())

    def post(self, request):
        form = CodeForm(request.POST)
        if form.is_valid():
            if second_factor.verify(request, form.cleaned_data["code"]):
                return redirect(next_page(request))
            form.add_error("code", "Not a valid code: try the next one your app shows, or a recovery code.")
        return self.render(self.template, status=400, form=form)
