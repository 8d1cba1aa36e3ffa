"""The page of any declared write: its form, then what it will do (for a person to confirm), then the run's page.

One view serves every write: the permission, title and form come from the declaration,
so the page, the JSON endpoint and the command validate the same way. A link may fill
the form (the selections of an ops page), but never a typed confirmation: that is typed
on the confirmation page, which shows what it confirms (Django's delete_selected pattern).
"""

from django import forms
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.generic import FormView
from unfold.views import UnfoldSiteViewMixin
from unfold.widgets import (
    UnfoldAdminCheckboxSelectMultipleWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanSwitchWidget,
)

from opsadmin.admin.submitting import submit_as, tell
from opsadmin.spine import registry
from opsadmin.spine.arguments import confirmation_fields, initial_from_query, recorded_arguments, takes_a_list
from opsadmin.spine.runs import InvalidArguments, validate_before_confirming

CONFIRMED = "confirmed"  # the confirmation page's own field: a POST with it submits


def styled(form):
    """Give the shared form unfold's widgets; only the admin door needs them."""
    for field in form.fields.values():
        if isinstance(field, forms.BooleanField):
            field.widget = UnfoldBooleanSwitchWidget()
        elif isinstance(field, forms.MultipleChoiceField):
            field.widget = UnfoldAdminCheckboxSelectMultipleWidget(choices=field.choices)
        elif isinstance(field, forms.ChoiceField):
            field.widget = UnfoldAdminSelectWidget(choices=field.choices)
        elif isinstance(field, forms.CharField | forms.Field):
            field.widget = UnfoldAdminTextInputWidget()
    return form


def hidden_inputs(form_class, data, skip=()):
    """(name, value) pairs that carry a form's values through a confirmation page."""
    pairs = []
    for name, value in recorded_arguments(form_class, data).items():
        if name in skip:
            continue
        field = form_class.base_fields[name]
        values = value if isinstance(value, list) and takes_a_list(field) else [value]
        pairs += [(name, item) for item in values]
    return pairs


def confirmation_response(request, admin_site, write, confirmation, *, hidden, typed_form, errors, cancel_url):
    """The confirmation page: what will happen, to what, how big; the typed fields; confirm or cancel."""
    context = {
        **admin_site.each_context(request),
        "title": f"Confirm: {write.title}",
        "write": write,
        "confirmation": confirmation,
        "hidden": hidden,
        "typed_fields": [typed_form[name] for name in confirmation_fields(write.form_class)],
        "errors": errors,
        "confirmed_field": CONFIRMED,
        "cancel_url": cancel_url,
    }
    return TemplateResponse(request, "opsadmin/confirm.html", context)


class OperationPage(UnfoldSiteViewMixin, FormView):
    template_name = "opsadmin/operation.html"

    def dispatch(self, request, *args, operation_name, **kwargs):
        try:
            self.write = registry.get_write(operation_name)
        except KeyError:
            raise Http404(f"no operation {operation_name!r}") from None
        self.permission_required = (self.write.permission_name,)
        self.permission_denied_message = f"{self.write.title} needs the permission “{self.write.permission_name}”."
        self.title = self.write.title
        return super().dispatch(request, *args, **kwargs)

    def get_form_class(self):
        return self.write.form_class

    def get_initial(self):
        """Prefill from the query string, e.g. the indexes selected on the Database page; never a confirmation."""
        return initial_from_query(self.write.form_class, self.request.GET)

    def get_form(self, form_class=None):
        form = styled(super().get_form(form_class))
        for name in confirmation_fields(self.write.form_class):
            del form.fields[name]  # typed on the confirmation page, which shows what it confirms
        return form

    def post(self, request, *args, **kwargs):
        try:
            confirmation = self.write.confirmation(validate_before_confirming(self.write.form_class, request.POST))
        except InvalidArguments as invalid:
            return self.form_invalid(self.form_with(invalid.errors))
        if confirmation is not None and CONFIRMED not in request.POST:
            return self.confirm(confirmation, styled(self.write.form_class()))
        try:
            run = submit_as(request, self.write, request.POST)
        except InvalidArguments as invalid:  # a typed confirmation that doesn't match, or the world moved on
            if invalid.run:  # a destructive write's refused attempt is in the audit log: say so
                tell(request, self.write, invalid.run)
            if confirmation is None:
                return self.form_invalid(self.form_with(invalid.errors))
            return self.confirm(confirmation, styled(self.write.form_class(request.POST)), invalid.errors)
        tell(request, self.write, run)
        return redirect(reverse("admin:opsadmin_opsrun_change", args=[run.pk]))

    def form_with(self, errors):
        """The page's form (bound, so it shows its own errors), plus errors only the spine found."""
        form = self.get_form()
        for field, messages in errors.items():
            target = field if field in form.fields else None
            for message in messages:
                if message not in form.errors.get(target or "__all__", []):
                    form.add_error(target, message)
        return form

    def confirm(self, confirmation, typed_form, errors=None):
        typed = confirmation_fields(self.write.form_class)
        return confirmation_response(
            self.request,
            self.admin_site,
            self.write,
            confirmation,
            hidden=hidden_inputs(self.write.form_class, self.request.POST, skip=typed),
            typed_form=typed_form,
            errors=[
                message for field, messages in (errors or {}).items() if field not in typed for message in messages
            ],
            cancel_url=self.request.path,
        )
