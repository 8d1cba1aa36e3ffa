"""WSGI entry point (gunicorn portal.wsgi, and runserver through WSGI_APPLICATION)."""

import os

from django.core.wsgi import get_wsgi_application

from portal.serving import refuse_without_secret_key

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
refuse_without_secret_key()
application = get_wsgi_application()

# A process that serves through here runs its own thread per web worker: it beats while
# idle and takes the work sent to it over the command channel (opsadmin.runtime.heartbeat);
# its database connections get the web processes' short budgets (opsadmin.runtime.postgresql).
from opsadmin.runtime.heartbeat import serve_in_background  # noqa: E402  (after Django is set up)
from opsadmin.runtime.postgresql import budgets  # noqa: E402

serve_in_background()
budgets.serve_web()
