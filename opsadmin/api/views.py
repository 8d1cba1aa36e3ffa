"""The ops API's views: one for any declared read, one for any declared write, and the index and status.

Callers are whoever the access policy lets read or run ops (portal/accounts/access.py):
a staff session (CSRF enforced on writes) or an ops token. Every answer is JSON:
refusals 401/403; 400 for a body that is not a plain JSON object, or arguments the
declared form rejects (with each field's errors); 404; 405; 413 for a body over
PORTAL_API_MAX_BODY_BYTES; 503 while the database is unavailable (with Retry-After, and the breaker when
one refused the call: portal/errors.py); 500 otherwise.
"""

import functools
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from opsadmin.models import OpsRun
from opsadmin.runtime.breakers import Unavailable
from opsadmin.spine.arguments import BadInput, json_object
from opsadmin.spine.capability import VIEW_OPS, NotFound
from opsadmin.spine.catalog import catalog
from opsadmin.spine.results import PortalJSONEncoder
from opsadmin.spine.runs import Actor, InvalidArguments, describe, submit, validate
from opsadmin.spine.sections import overall, readable_sections
from portal.accounts.access import Refusal, authorize

logger = logging.getLogger(__name__)

READ_METHODS = ("GET", "HEAD")
UNAVAILABLE_RETRY_SECONDS = 5


def answer(value, status=200):
    """`value` as JSON, through the portal's one encoder."""
    return JsonResponse(value, status=status, encoder=PortalJSONEncoder, safe=False)


def error(status, message, **extra):
    return JsonResponse({"error": message, **extra}, status=status)


def endpoint(permission, methods):
    """Method, body, access policy and error handling around an API view, which gets `request.caller`.

    A body is read (and its size checked) before the access policy runs: Django's CSRF check
    for a session caller reads the form data, which would otherwise consume or reject it.
    """

    def decorator(view):
        @csrf_exempt  # the access policy checks CSRF for session callers that write; tokens carry no cookies
        @never_cache
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in methods:
                response = error(405, f"method {request.method} not allowed", allowed=list(methods))
                response["Allow"] = ", ".join(methods)
                return response
            try:
                if request.method == "POST":
                    _read_body(request)
                request.caller = authorize(request, f"opsadmin.{permission}")
                return view(request, *args, **kwargs)
            except _Unreadable as unreadable:
                return error(unreadable.status, str(unreadable))
            except Refusal as refused:
                return refused.response()
            except Unavailable:
                raise  # a dependency that is out: 503 with its breaker and Retry-After (portal.errors)
            except (OperationalError, InterfaceError):
                logger.warning("ops API %s: database unavailable", request.path, exc_info=True)
                response = error(503, "database unavailable")
                response["Retry-After"] = str(UNAVAILABLE_RETRY_SECONDS)
                return response
            except Exception:
                logger.exception("ops API %s failed", request.path)
                return error(500, "internal error: see the server's log")

        return wrapper

    return decorator


def read_endpoint(read, data_only=False):
    """GET: the read's Section (`data_only`: its data alone, as the paths from before answered)."""

    @endpoint(read.permission, READ_METHODS)
    def view(request, **path_parameters):
        parameters = request.GET.copy()
        for name, value in path_parameters.items():
            parameters[name] = str(value)
        try:
            section = read.function(**validate(read.form_class, parameters))
        except InvalidArguments as invalid:
            return error(400, "invalid parameters", fields=invalid.errors)
        except NotFound as missing:
            return error(404, str(missing))
        return answer(section.data if data_only else section)

    return view


def write_endpoint(write):
    """POST: 200 with the finished run, 202 with one still queued or running (its `url` follows it).

    A path's parameters (an alias's `breakers/<name>/reset/`) are arguments like the body's; the body
    may not give one of them too, so no request says two things at once.
    """

    @endpoint(write.permission, ("POST",))
    def view(request, **path_parameters):
        try:
            data = json_object(request.body)
        except BadInput as bad:
            return error(400, str(bad))
        if twice := sorted(set(data) & set(path_parameters)):
            return error(400, "invalid arguments", fields={name: ["given by the path already"] for name in twice})
        try:
            run = submit(write, data | path_parameters, actor=Actor.of(request.caller), door=OpsRun.Door.API)
        except InvalidArguments as invalid:
            recorded = {"run": describe(invalid.run)["url"]} if invalid.run else {}
            return error(400, "invalid arguments", fields=invalid.errors, **recorded)
        return answer(describe(run), status=200 if run.finished else 202)

    return view


@endpoint(VIEW_OPS, READ_METHODS)
def index(request):
    """Every capability, with each read's and write's path, permission and target."""
    return answer(catalog())


@endpoint(VIEW_OPS, READ_METHODS)
def status(request):
    """Everything at a glance: every status section this caller may read, ok only when all are."""
    return answer(overall(readable_sections(request.caller.user.has_perm)))


@endpoint(VIEW_OPS, ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
def not_found(request):
    return error(404, f"no such ops endpoint: {request.path}")


class _Unreadable(Exception):
    """A body the API won't read: too large (413), or a form upload that can't be parsed (400)."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _read_body(request):
    """Read the body now, refusing one over PORTAL_API_MAX_BODY_BYTES, and parse any form data from it.

    Django keeps the body it read, so the form data the CSRF check reads is parsed from it
    instead of consuming the stream; a form body that can't be parsed is refused here.
    """
    limit = settings.PORTAL_API_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    try:
        if declared > limit or len(request.body) > limit:
            raise _Unreadable(413, f"the body is over {limit:,} bytes")
        request.POST  # noqa: B018  (parsed here, where a broken upload can be answered)
    except RequestDataTooBig:
        raise _Unreadable(413, f"the body is over {limit:,} bytes") from None
    except MultiPartParserError:
        raise _Unreadable(400, "the body is neither JSON nor readable form data") from None
