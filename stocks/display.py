"""Market numbers as the admin's lists show them: separators, currency, compact sizes, signed changes."""

from decimal import Decimal

DASH = "—"
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
SCALES = ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K"))


def price(amount, currency="USD"):
    """$1,234.50; 4 decimals only when the price has them ($0.0123); a dash when unknown."""
    if amount is None:
        return DASH
    places = 4 if Decimal(amount) != round(Decimal(amount), 2) else 2
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
    """+1.25 %, -0.40 %: the sign always shown."""
    return DASH if percent is None else f"{percent:+,.2f} %"
