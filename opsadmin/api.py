"""Front door 2: the ops JSON API under /api/ops/.

Callers are a staff session (CSRF enforced on writes) or `Authorization: Bearer`;
every endpoint names the ops permission it needs. 401 without credentials, 403
without the permission, 400 with field errors for bad input.
"""

import dataclasses
import json
from functools import wraps

from django.core.serializers.json import DjangoJSONEncoder
from django.http import JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from opsadmin.authentication import authenticated_caller
from opsadmin.models import OpsRun
from opsadmin.operations.caches.inventory import cache_panels
from opsadmin.operations.database.analysis import analyze_database
from opsadmin.operations.declaration import get_write
from opsadmin.operations.instances import instances_status
from opsadmin.operations.status import system_status
from opsadmin.runs import Actor, InvalidArguments, submit
from opsadmin.serializers import run_to_dict

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
RUNS_PAGE_SIZE = 50


def error(status, message, **extra):
    return JsonResponse({"error": message, **extra}, status=status)


def _csrf_rejection(request):
    """Django's own CSRF check, for session callers only (a token request has no cookies to ride on)."""
    return CsrfViewMiddleware(lambda request: None).process_view(request, None, (), {})


def ops_endpoint(permission, methods=("GET",)):
    """Authenticate, check CSRF and `opsadmin.<permission>`, then call the view with `request.ops_actor`."""

    def decorator(view):
        @csrf_exempt
        @never_cache
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in methods:
                return error(405, f"method {request.method} not allowed", allowed=list(methods))
            user, token = authenticated_caller(request)
            if user is None:
                response = error(401, "authentication required: a staff session or Authorization: Bearer <token>")
                response["WWW-Authenticate"] = 'Bearer realm="ops"'
                return response
            if token is None and request.method not in SAFE_METHODS and _csrf_rejection(request) is not None:
                return error(403, "CSRF check failed: send the X-CSRFToken header with the csrftoken cookie")
            if not user.has_perm(f"opsadmin.{permission}"):
                return error(403, f"permission opsadmin.{permission} required")
            request.ops_actor = Actor.for_user(user, token)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def json_body(request):
    """The request's JSON object (empty body = {}), or None when it is not a JSON object."""
    if not request.body:
        return {}
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def write_endpoint(operation_name):
    """POST endpoint for a declared write: 200 with the finished run, or 202 with the queued one."""
    operation = get_write(operation_name)

    @ops_endpoint(operation.permission, methods=("POST",))
    def view(request):
        data = json_body(request)
        if data is None:
            return error(400, "the body must be a JSON object")
        try:
            run = submit(operation, data, actor=request.ops_actor, door=OpsRun.Door.API)
        except InvalidArguments as invalid:
            return error(400, "invalid arguments", fields=invalid.errors)
        status = 202 if run.status == OpsRun.Status.QUEUED else 200
        return JsonResponse(run_to_dict(run), status=status)

    return view


@ops_endpoint("view_ops")
def runs(request):
    """The audit log, newest first; `?operation=`, `?status=` and `?before=<id>` to page."""
    queryset = OpsRun.objects.all()
    for field in ("operation", "status"):
        if request.GET.get(field):
            queryset = queryset.filter(**{field: request.GET[field]})
    before = request.GET.get("before", "")
    if before:
        if not (before.isascii() and before.isdigit()):
            return error(400, "before must be a run id")
        queryset = queryset.filter(pk__lt=int(before))
    page = list(queryset.order_by("-pk")[:RUNS_PAGE_SIZE])
    return JsonResponse({"runs": [run_to_dict(run) for run in page]})


@ops_endpoint("view_ops")
def run(request, run_id):
    found = OpsRun.objects.filter(pk=run_id).first()
    if found is None:
        return error(404, f"no run {run_id}")
    return JsonResponse(run_to_dict(found))


@ops_endpoint("view_ops")
def instances(request):
    return JsonResponse({"instances": instances_status()})


@ops_endpoint("view_ops")
def status(request):
    return JsonResponse(system_status())


@ops_endpoint("view_ops")
def database_health(request):
    """The database analysis: drift, invalid/duplicate/unused indexes, tables, suggestions."""
    return JsonResponse(dataclasses.asdict(analyze_database()), encoder=DjangoJSONEncoder)


@ops_endpoint("view_ops")
def caches(request):
    """Every cache alias: backend, location (masked), prefix, what it holds, and its statistics."""
    return JsonResponse({"caches": [dataclasses.asdict(panel) for panel in cache_panels()]})
