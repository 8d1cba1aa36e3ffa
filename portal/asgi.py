"""ASGI entry point."""

import os

from django.core.asgi import get_asgi_application

from portal.serving import refuse_without_secret_key

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
refuse_without_secret_key()
application = get_asgi_application()

# As under WSGI (portal/wsgi.py): each serving process runs its own thread, which beats
# and answers the command channel.
from opsadmin.runtime.heartbeat import serve_in_background  # noqa: E402  (after Django is set up)

serve_in_background()
