"""Template helpers for the ops pages."""

from django import template

from opsadmin.admin.dashboard import STATUS_VARIANTS

register = template.Library()


@register.filter
def status_variant(status):
    """The unfold label variant (success, warning, danger, ...) for a status word."""
    return STATUS_VARIANTS.get(status, "default")
