"""Template helpers for the ops pages: state colours, and numbers through opsadmin.spine.humanize."""

from django import template

from opsadmin.spine import humanize, registry

register = template.Library()


@register.filter
def status_variant(status):
    """The unfold label variant (success, warning, danger, ...) for a status or state word."""
    return registry.colours().get(status, "default")


# Numbers for people, the same on the pages as on every other door (opsadmin/spine/humanize.py): 1.9 MiB,
# 850 ms, 1,250,000, 39.4 % (of a ratio), 82.8 % (of a percentage), 3 min ago, in 7 s; a dash when unknown,
# "not available here" for a figure this platform does not give.
register.filter("bytes_or_dash", humanize.byte_size)
register.filter("bytes_if_available", humanize.bytes_if_available)
register.filter("seconds", humanize.duration)
register.filter("number", humanize.count)
register.filter("percent", humanize.percent)
register.filter("percentage", humanize.percentage)
register.filter("ago", humanize.ago)
register.filter("until", humanize.until)
