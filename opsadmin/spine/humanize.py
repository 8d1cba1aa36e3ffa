"""Numbers as people under pressure read them: separators, units, percentages, plurals.

One place for every door's wording: the pages (through opsadmin.templatetags.ops), the
reports' summaries and the command line say "1,250,000 rows", "39.4 %", "1.9 MiB",
"1 key" and "4 min 05 s" the same way. A dash stands for a number nobody knows; "not available here" for one
this platform does not give (USS, PSS, open files, a container's memory).
"""

import math

from django.utils import timezone

DASH = "—"
NOT_AVAILABLE = "not available here"
BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
PLURALS = {"index": "indexes", "process": "processes", "entry": "entries"}


def duration(seconds):
    """850 ms, 12.3 s, 4 min 05 s, 2 h 03 min."""
    if seconds is None:
        return DASH
    if seconds < 1:
        return f"{seconds * 1000:,.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours:,} h {minutes:02d} min"


def ago(moment, now=None):
    """ "4 s ago", "3 min ago", "2 h ago", "5 days ago": how long since `moment`."""
    if moment is None:
        return DASH
    return f"{_span(((now or timezone.now()) - moment).total_seconds())} ago"


def until(moment, now=None):
    """ "in 7 s", "in 3 min", "in 2 h": how long until `moment`; "now" once it has come."""
    if moment is None:
        return DASH
    seconds = math.ceil((moment - (now or timezone.now())).total_seconds())
    return f"in {_span(seconds)}" if seconds > 0 else "now"


def _span(seconds):
    """4 s, 3 min, 2 h, 5 days: whole units, rounded down."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    return plural(seconds // 86400, "day")


def byte_size(size):
    """512 B, 1.5 KiB, 39.4 MiB, 1.9 GiB: powers of 1,024, named as such."""
    if size is None:
        return DASH
    size = float(size)
    for unit in BINARY_UNITS:
        if abs(size) < 1024 or unit == BINARY_UNITS[-1]:
            break
        size /= 1024
    if unit == "B":
        return f"{size:,.0f} B"
    return f"{size:,.1f} {unit}"


def count(number):
    """1,250,000."""
    return DASH if number is None else f"{number:,}"


def bytes_if_available(size):
    """A size the platform may not give (USS, PSS, a container's memory): "not available here" where it doesn't."""
    return NOT_AVAILABLE if size is None else byte_size(size)


def named_figure(value, name, form=count):
    """ "80.2 MiB USS", "USS not available here": a figure the platform may not give, with its name."""
    return f"{name} {NOT_AVAILABLE}" if value is None else f"{form(value)} {name}"


def percent(ratio, places=1):
    """0.394 -> "39.4 %", 1.0 -> "100 %", 0.82 -> "82 %"."""
    return DASH if ratio is None else f"{round(ratio * 100, places):g} %"


def percentage(value, places=1):
    """82.8 -> "82.8 %": a value that is already a percentage (as PostgreSQL's statistics give them)."""
    return DASH if value is None else percent(value / 100, places)


def plural(number, noun, plural_form=None):
    """ "1 key", "2 keys", "3 indexes": the count with its noun, never "key(s)"; a dash when unknown."""
    if number is None:
        return DASH
    if number == 1:
        return f"1 {noun}"
    return f"{count(number)} {plural_form or PLURALS.get(noun, noun + 's')}"
