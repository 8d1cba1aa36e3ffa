"""A capability's admin page: its declared template, with the data its declaration gathers."""

from django.views.generic import TemplateView
from unfold.views import UnfoldSiteViewMixin


class CapabilityPage(UnfoldSiteViewMixin, TemplateView):
    """The page of `capability`: `page.context()` plus which of its writes this user may run."""

    capability = None  # given by as_view()

    def dispatch(self, request, *args, **kwargs):
        page = self.capability.page
        self.title, self.template_name = self.capability.title, page.template
        self.permission_required = (f"opsadmin.{page.permission}",)
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        allowed = {write.name for write in self.capability.writes if self.request.user.has_perm(write.permission_name)}
        return super().get_context_data(
            **self.capability.page.context(), capability=self.capability, allowed_writes=allowed, **kwargs
        )
