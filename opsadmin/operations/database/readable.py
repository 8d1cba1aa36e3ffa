"""Numbers as the Database page, its advice and its confirmations write them: separators and units.

Sizes in binary units with their IEC names (KiB, MiB, GiB: what PostgreSQL's pg_size_pretty
means by kB, MB, GB), counts with thousands separators, shares as "39.4 %". Unknown
values (SQLite keeps no sizes or scans) are a dash.
"""

DASH = "—"
_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


def size(value):
    """1,023 bytes, 8.0 KiB, 12.3 MiB, 1.2 GiB; a dash when unknown."""
    if value is None:
        return DASH
    if abs(value) < 1024:
        return f"{value:,} byte{'s' if value != 1 else ''}"
    amount, unit = value / 1024, 0
    while abs(amount) >= 1024 and unit < len(_UNITS) - 1:
        amount, unit = amount / 1024, unit + 1
    return f"{amount:,.1f} {_UNITS[unit]}"


def count(value, noun=None, plural=None):
    """12,345 (or "12,345 rows", "1 row" with a noun); a dash when unknown."""
    if value is None:
        return DASH
    if noun is None:
        return f"{value:,}"
    return f"{value:,} {noun if value == 1 else plural or noun + 's'}"


def percent(value):
    """82.8 %, 100 %; a dash when unknown."""
    return DASH if value is None else f"{value:g} %"
