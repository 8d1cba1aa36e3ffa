"""Template helpers for the ops pages: state colours, and numbers through opsadmin.spine.humanize."""

from django import template

from opsadmin.spine import humanize, registry

register = template.Library()


@register.filter
def status_variant(status):
    """The unfold label variant (success, warning, danger, ...) for a status or state word."""
    return registry.colours().get(status, "default")


@register.filter
def bytes_or_dash(value):
    """1.9 MiB, or a dash when the database does not know (SQLite)."""
    return humanize.byte_size(value)


@register.filter
def seconds(value):
    """A duration for people: 850 ms, 12.3 s, 4 min 05 s, 2 h 03 min; a dash when unknown."""
    return humanize.duration(value)


@register.filter
def number(value):
    """1,250,000; a dash when unknown."""
    return humanize.count(value)


@register.filter
def percent(ratio):
    """0.394 -> 39.4 %; a dash when unknown."""
    return humanize.percent(ratio)


@register.filter
def ago(moment):
    """How long since `moment`: 4 s ago, 3 min ago, 2 h ago, 5 days ago."""
    return humanize.ago(moment)


@register.filter
def until(moment):
    """How long until `moment`: in 7 s, in 3 min; now once it has come."""
    return humanize.until(moment)


@register.filter
def percentage(value):
    """82.8 -> 82.8 % (a value that is a percentage already, as psutil gives them); a dash when unknown."""
    return humanize.percentage(value)
