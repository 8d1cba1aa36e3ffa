#!/bin/sh
# The portal image's entrypoint (deploy/container/Dockerfile); docs/deployment.md explains it.
#
#   web      gunicorn with the portal's configuration (portal/gunicorn.conf.py): requests on PORTAL_BIND
#            (here 0.0.0.0:8000 by default), the probes on PORTAL_PROBE_BIND (default: the next port, 8001).
#            Further arguments go to gunicorn.
#   worker   the task worker (manage.py ops_worker); further arguments go to it.
#   migrate  manage.py migrate --no-input: run it once per release, before the new web processes start.
#            (collectstatic ran when the image was built.)
#   anything else is run as it is: `python manage.py createsuperuser`, `sh`.
#
# Each one is exec'd: the server replaces this shell, so it is the process the container runtime signals and
# gets SIGTERM itself (a shell left in between would not pass it on, and the graceful shutdown would not run).
set -eu

cd "$(dirname "$0")/../.."  # the checkout: manage.py and portal/ are relative to it

case "${1:-web}" in
    web)
        if [ "$#" -gt 0 ]; then shift; fi  # "web", or nothing at all
        export PORTAL_BIND="${PORTAL_BIND:-0.0.0.0:8000}"  # in a container, reachable from outside it
        exec gunicorn -c portal/gunicorn.conf.py "$@" portal.wsgi
        ;;
    worker)
        shift
        exec python manage.py ops_worker "$@"
        ;;
    migrate)
        shift
        exec python manage.py migrate --no-input "$@"
        ;;
    *)
        exec "$@"
        ;;
esac
