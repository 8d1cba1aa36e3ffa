"""Serve the portal's everyday pages once in the gunicorn master, before it forks its workers.

A page's first requests do work that stays: modules imported on first use, templates
compiled, URL and model caches filled, and CPython's specialising interpreter rewriting the
bytecode of every function it runs. Done in each worker, all of it lands in that worker's
own memory, and merely running code that the master loaded copies the pages it sits on.
Done once in the master (then frozen by gc.freeze() in portal/gunicorn.conf.py), it is
shared by every worker; bench/memory.py measures the difference.

The pages go through Django's whole request handling, middleware included, as a staff
user that exists only in memory. They are GETs, which change nothing in the portal, and
they are marked as served by no server, so the master never beats as a worker
(opsadmin.runtime.heartbeat): it leaves no row behind. The warm-up is best effort: its
first failure (a database that is down or not migrated) ends it with one logged line, and
the workers warm themselves as they serve.
"""

import io
import logging
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.handlers.base import BaseHandler
from django.core.handlers.wsgi import WSGIRequest
from django.db import connections

from opsadmin.runtime.heartbeat import NOT_SERVED
from portal.serving import allowed_host

logger = logging.getLogger(__name__)

# What staff and scripts open all day: the dashboard, the health and memory pages, the runs, a domain
# changelist, the ops API's reads.
EVERYDAY_PAGES = (
    "/admin/",
    "/admin/ops/health/",
    "/admin/ops/memory/",
    "/admin/opsadmin/opsrun/",
    "/admin/stocks/stock/",
    "/api/ops/status/",
    "/api/ops/runs/",
)


def warm_up(paths):
    """GET each of `paths` once; returns how many answered 200."""
    started, answered = time.monotonic(), 0
    handler = BaseHandler()
    handler.load_middleware()
    try:
        for path in paths:
            response = handler.get_response(request_for(path))
            response.close()
            if (status := response.status_code) != 200:
                raise RuntimeError(f"{path} answered {status}")
            answered += 1
    except Exception as error:  # best effort: any failure leaves the warming to the workers
        logger.warning("warm-up stopped after %s of %s pages: %s", answered, len(paths), error)
    else:
        logger.info("warm-up: %s pages served in %.2f s", answered, time.monotonic() - started)
    finally:
        connections.close_all()  # nothing open crosses the fork
    return answered


def request_for(path):
    """A GET of `path` by an in-memory superuser (the authentication middleware keeps a user it finds cached)."""
    request = WSGIRequest(
        {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "SERVER_NAME": allowed_host(),
            "SERVER_PORT": "443" if settings.PORTAL_HTTPS else "80",
            "HTTP_ACCEPT": "text/html",
            "wsgi.input": io.BytesIO(),
            "wsgi.url_scheme": "https" if settings.PORTAL_HTTPS else "http",  # else redirected to HTTPS
            NOT_SERVED: True,
        }
    )
    request._cached_user = get_user_model()(username="warm-up", is_active=True, is_staff=True, is_superuser=True)
    return request
