"""A capability's admin page: its declared template and the data it gathers, or its model's change list."""

from django.urls import reverse
from django.views.generic import TemplateView
from unfold.views import UnfoldSiteViewMixin

from opsadmin.spine import registry


def page_url(capability):
    """Where a capability's tile and sidebar entry lead: its page, or its model's change list; "" for neither."""
    if capability.page:
        return reverse(f"admin:ops_{capability.name}")
    if capability.changelist:
        app, model = capability.changelist.lower().split(".")
        return reverse(f"admin:{app}_{model}_changelist")
    return ""


class CapabilityChangelistMixin:
    """A model admin that is a capability's page: shown to those with the capability's view permission."""

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm(registry.changelist_capability(self.model._meta.label).view_permission)


class CapabilityPage(UnfoldSiteViewMixin, TemplateView):
    """The page of `capability`: `page.context()` plus which of its writes this user may run."""

    capability = None  # given by as_view()

    def dispatch(self, request, *args, **kwargs):
        page = self.capability.page
        self.title, self.template_name = self.capability.title, page.template
        self.permission_required = (self.capability.view_permission,)
        self.permission_denied_message = f"{self.title} needs the permission “{self.capability.view_permission}”."
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        allowed = {write.name for write in self.capability.writes if self.request.user.has_perm(write.permission_name)}
        return super().get_context_data(
            **self.capability.page.context(), capability=self.capability, allowed_writes=allowed, **kwargs
        )
