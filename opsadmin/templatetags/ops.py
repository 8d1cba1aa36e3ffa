"""Template helpers for the ops pages."""

from django import template

from opsadmin.spine import registry

register = template.Library()


@register.filter
def status_variant(status):
    """The unfold label variant (success, warning, danger, ...) for a status or state word."""
    return registry.colours().get(status, "default")


@register.filter
def seconds(value):
    """A duration for people: 850 ms, 12.3 s, 4 min 05 s, 2 h 03 min; a dash when unknown."""
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 1000:,.0f} ms"
    if value < 60:
        return f"{value:.1f} s"
    minutes, secs = divmod(int(value), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours:,} h {minutes:02d} min"
