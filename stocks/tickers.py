"""What a ticker symbol is: the one rule shared by the model, forms, CSV import and API."""

import re

from django.core.exceptions import ValidationError

TICKER_PATTERN = re.compile(r"^[A-Z][A-Z0-9]{0,9}(?:[.\-][A-Z0-9]{1,4})?$")
TICKER_MAX_LENGTH = 16


def normalize_ticker(raw):
    """Return the canonical (upper-case, trimmed) ticker or raise ValidationError."""
    ticker = (raw or "").strip().upper()
    if not TICKER_PATTERN.match(ticker):
        raise ValidationError(
            "%(value)r is not a ticker: 1-10 letters or digits starting with a letter, "
            "optionally a class suffix such as BRK.B",
            code="invalid_ticker",
            params={"value": raw},
        )
    return ticker


def validate_ticker(value):
    """Model-field validator: the stored value must already be canonical."""
    if normalize_ticker(value) != value:
        raise ValidationError("Tickers are stored upper-case: %(value)r", params={"value": value})
