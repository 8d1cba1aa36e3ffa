"""Market numbers as the admin's lists show them: separators, currency, compact sizes, signed changes."""

from decimal import Decimal

DASH = "—"
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
SCALES = ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K"))


def price(amount, currency="USD"):
    """$1,234.50, and $0.0123 under a unit (as the market quotes: cents from one up); a dash when unknown.

    The stored price keeps its 4 decimals: a list shows what a quote board would, the change page the rest.
    """
    if amount is None:
        return DASH
    places = 2 if abs(Decimal(amount)) >= 1 else 4
    text = f"{amount:,.{places}f}"
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{text}" if symbol else f"{text} {currency}"


def volume(shares):
    """12,345,678."""
    return DASH if shares is None else f"{shares:,}"


def market_cap(amount, currency="USD"):
    """$2.87 T, $412.5 B, $950.0 M: a company's size at a glance; a dash when unknown."""
    if amount is None:
        return DASH
    symbol = SYMBOLS.get(currency, "")
    for scale, suffix in SCALES:
        if abs(amount) >= scale:
            value = amount / scale
            text = f"{value:,.2f}" if abs(value) < 10 else f"{value:,.1f}"
            return f"{symbol}{text} {suffix}" if symbol else f"{text} {suffix} {currency}"
    return price(amount, currency)


def change(percent):
    """+1.25 %, -0.40 %: the sign always shown; a no-break space, so a narrow column never splits it."""
    return DASH if percent is None else f"{percent:+,.2f}\u00a0%"
