"""What a serving process (portal/wsgi.py, portal/asgi.py) checks before it takes a request, and the host
of the requests the portal sends itself (the gunicorn master's warm-up, the security checklist's audit)."""

import sys

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

MISSING_SECRET_KEY = (
    "SECRET_KEY is not set: with DEBUG off the portal does not start without it. Set it to the same "
    "long random value on every instance, e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))'"
)


def refuse_without_secret_key():
    """Stop with one line rather than serve: every session, CSRF check and message would fail on the empty key."""
    try:
        settings.SECRET_KEY  # noqa: B018  (Django raises on an empty key)
    except ImproperlyConfigured:
        sys.exit(MISSING_SECRET_KEY)


def allowed_host():
    """A host name ALLOWED_HOSTS accepts: its first entry made concrete ("*" or none: localhost)."""
    for allowed in settings.ALLOWED_HOSTS:
        if allowed != "*":
            return allowed.lstrip(".")
    return "localhost"
