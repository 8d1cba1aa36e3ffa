"""Template helpers for the ops pages."""

from django import template
from django.template.defaultfilters import filesizeformat

from opsadmin.admin.dashboard import STATUS_VARIANTS

register = template.Library()


@register.filter
def status_variant(status):
    """The unfold label variant (success, warning, danger, ...) for a status word."""
    return STATUS_VARIANTS.get(status, "default")


@register.filter
def bytes_or_dash(value):
    """1.2 MB, or a dash when the database does not know (SQLite)."""
    return "—" if value is None else filesizeformat(value)
