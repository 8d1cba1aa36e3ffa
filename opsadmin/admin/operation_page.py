"""Front door 1 for any declared write: its form as an admin page → submit → the run's page.

One view serves every write: the permission, title and form come from the declaration,
so the page, the JSON endpoint and the command validate the same way.
"""

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views.generic import FormView
from unfold.views import UnfoldSiteViewMixin
from unfold.widgets import (
    UnfoldAdminCheckboxSelectMultipleWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanSwitchWidget,
)

from opsadmin.models import OpsRun
from opsadmin.operations.declaration import WRITES, get_write
from opsadmin.runs import Actor, InvalidArguments, submit, takes_a_list


def styled(form):
    """Give the shared form unfold's widgets; only the admin door needs them."""
    for field in form.fields.values():
        if isinstance(field, forms.BooleanField):
            field.widget = UnfoldBooleanSwitchWidget()
        elif isinstance(field, forms.MultipleChoiceField):
            field.widget = UnfoldAdminCheckboxSelectMultipleWidget(choices=field.choices)
        elif isinstance(field, forms.ChoiceField):
            field.widget = UnfoldAdminSelectWidget(choices=field.choices)
        elif isinstance(field, forms.CharField):
            field.widget = UnfoldAdminTextInputWidget()
    return form


def outcome_message(operation, run):
    """(messages level, text) telling staff how a submitted run went: the page's and the admin actions'."""
    if run.status == OpsRun.Status.QUEUED:
        return messages.INFO, f"{operation.title}: queued as run #{run.pk}; its page follows it."
    if run.status == OpsRun.Status.SUCCEEDED:
        return messages.SUCCESS, run.summary or "Done."
    return messages.ERROR, f"{operation.title} failed: {run.error}"


def submit_from_admin(model_admin, request, operation_name, data):
    """An admin action's door: submit the declared write, then say how it went (or why it was refused)."""
    operation = get_write(operation_name)
    try:
        run = submit(operation, data, actor=Actor.for_user(request.user), door=OpsRun.Door.ADMIN)
    except InvalidArguments as invalid:
        model_admin.message_user(request, str(invalid), messages.ERROR)
        return
    level, text = outcome_message(operation, run)
    model_admin.message_user(request, text, level)


class OperationPage(UnfoldSiteViewMixin, FormView):
    template_name = "opsadmin/operation.html"
    permission_required = ()  # replaced per operation in dispatch()

    def dispatch(self, request, *args, operation_name, **kwargs):
        self.operation = WRITES.get(operation_name)
        if self.operation is None:
            raise Http404(f"no operation {operation_name!r}")
        self.permission_required = (self.operation.permission_name,)
        self.title = self.operation.title
        return super().dispatch(request, *args, **kwargs)

    def get_form_class(self):
        return self.operation.form_class

    def get_initial(self):
        """Prefill from the query string, e.g. the indexes selected on the Database page."""
        form_class = self.operation.form_class
        initial = {}
        for name, field in form_class.base_fields.items():
            if name in self.request.GET:
                multiple = takes_a_list(field)
                initial[name] = self.request.GET.getlist(name) if multiple else self.request.GET[name]
        return initial

    def get_form(self, form_class=None):
        return styled(super().get_form(form_class))

    def form_valid(self, form):
        try:
            run = submit(
                self.operation, self.request.POST, actor=Actor.for_user(self.request.user), door=OpsRun.Door.ADMIN
            )
        except InvalidArguments as invalid:
            for field, errors in invalid.errors.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
            return self.form_invalid(form)
        level, text = outcome_message(self.operation, run)
        messages.add_message(self.request, level, text)
        return redirect(reverse("admin:opsadmin_opsrun_change", args=[run.pk]))
