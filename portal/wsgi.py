"""WSGI entry point (gunicorn portal.wsgi, and runserver through WSGI_APPLICATION)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
application = get_wsgi_application()

# A process that serves through here runs its own thread per web worker: it beats while
# idle and takes the work sent to it over the command channel (opsadmin.runtime.heartbeat).
from opsadmin.runtime.heartbeat import serve_in_background  # noqa: E402  (after Django is set up)

serve_in_background()
