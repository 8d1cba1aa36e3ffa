"""Text every part of the project checks the same way before it reaches the database."""


def storable_text(text):
    """False for text PostgreSQL would refuse: NUL, or an unpaired UTF-16 surrogate."""
    return not any(char == "\x00" or "\ud800" <= char <= "\udfff" for char in text)
