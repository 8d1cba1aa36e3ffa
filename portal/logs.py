"""How the portal logs: a line per record, a traceback only for an error; probes are not logged; each request
leaves one line, with its request id, that every record logged while serving it carries too.

Django logs nothing of a 500 with DEBUG off unless LOGGING sends it somewhere (its
default handler only mails admins), so settings.LOGGING sends every record to stderr,
where gunicorn, systemd or the container runtime collect it (and to a rotated file when
PORTAL_LOG_FILE asks for one, for hosts without a collector). In production each record is
one JSON object on one line (python-json-logger: `JsonLines`); on the development default
it is a line for people (`OneLineBelowError`). Either way a warning stays one line (an
exception it carries is named, not traced back; a message's line breaks are joined), as is
an error a client caused (a forged Host header), so a dependency that flaps doesn't bury
the errors; an error keeps its traceback (in JSON, in the record's `traceback` field).

Load balancers probe /health/live/ and /health/ready/ every few seconds: a line per probe
would bury everything else; readiness logs its own changes instead
(opsadmin.health.readiness). The request line itself is portal.request_log's.

`RequestContext` puts the id of the request being served (portal.request_context) on every record.
"""

import logging
import logging.config

from django.core.exceptions import SuspiciousOperation
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from portal.request_context import current_request_id

PROBE_PATHS = frozenset({"/health/live/", "/health/ready/"})


class RequestContext(logging.Filter):
    """Puts the request id bound in this context on every record (None outside a request or a queued run), or
    the id of the request a record carries (Django logs a 4xx once every middleware has returned)."""

    def filter(self, record):
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id() or getattr(getattr(record, "request", None), "request_id", None)
        return True


FORMATTERS = {  # settings.LOGGING's, and gunicorn's own records' (portal/gunicorn.conf.py)
    "console": {
        "()": "portal.logs.OneLineBelowError",
        "format": "%(asctime)s %(levelname)s %(name)s [pid %(process)d] %(message)s",
    },
    "json": {"()": "portal.logs.JsonLines", "format": "%(levelname)s %(name)s %(process)s %(message)s"},
}


def gunicorn_logging(log_format):
    """gunicorn's logconfig_dict: its own records (starting, booting a worker, a timeout) on stderr in the portal's
    `log_format`; no access log (the portal writes its own request line, and none for probes)."""
    return {
        "root": {"level": "INFO", "handlers": []},  # the portal's settings configure it once the app loads
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["gunicorn"], "propagate": False},
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
        "handlers": {
            "gunicorn": {"class": "logging.StreamHandler", "formatter": log_format, "stream": "ext://sys.stderr"}
        },
        "formatters": FORMATTERS,
    }


def configure(config):
    """settings.LOGGING_CONFIG: the LOGGING dict, and Python's warnings as records (`py.warnings`), so that they
    come out in the same format as everything else (a JSON stream stays JSON)."""
    logging.config.dictConfig(config)
    logging.captureWarnings(True)


# --- Formats --------------------------------------------------------------------------------------------------


def one_line(record):
    """`record` to show on one line, or None when it keeps its traceback (an error the client did not cause).

    A copy when there is something to take off (the record itself stays untouched, for other handlers); the
    record itself when there is not, as for every request line: copying it was a tenth of the line's cost."""
    clients_fault = record.exc_info and isinstance(record.exc_info[1], SuspiciousOperation)
    if record.levelno >= logging.ERROR and not clients_fault:
        return None
    if not record.exc_info and not record.stack_info:
        return record
    line = logging.makeLogRecord(record.__dict__)
    message = record.getMessage()
    if record.exc_info and record.exc_info[1] is not None:
        error = record.exc_info[1]
        first = (str(error).strip().splitlines() or [""])[0]
        message += f" ({type(error).__name__}: {first})" if first else f" ({type(error).__name__})"
    line.msg, line.args, line.exc_info, line.exc_text, line.stack_info = message, (), None, None, None
    return line


class OneLineBelowError(logging.Formatter):
    """Records below ERROR on one line, any exception reduced to its type and first line; so are a client's
    suspicious requests (a forged Host header is the client's doing: its traceback would only say where
    Django noticed)."""

    def format(self, record):
        line = one_line(record)
        if line is None:
            return super().format(record)
        return " | ".join(super().format(line).splitlines())


class JsonLines(JsonFormatter):
    """python-json-logger's formatter, with the same rule for exceptions: only an error the client did not cause
    keeps its traceback (`traceback`); fields: time (ISO 8601, UTC), level, logger, message, pid, request_id, and
    whatever the record was given as `extra` (the request line's method, path, status, ...)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("timestamp", "time")
        kwargs.setdefault(
            "rename_fields", {"levelname": "level", "name": "logger", "process": "pid", "exc_info": "traceback"}
        )
        # The request object Django's records carry (its repr says less than the request line), runserver's clock.
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, "request", "server_time"])
        super().__init__(*args, **kwargs)

    def format(self, record):
        return super().format(one_line(record) or record)


# --- What is not logged ---------------------------------------------------------------------------------------


class SkipProbeRequests(logging.Filter):
    """Drops the per-request records of the load balancers' probes: django.request's (a 405, say) and the
    development server's access lines (django.server, whose first argument is the request line)."""

    def filter(self, record):
        path = getattr(getattr(record, "request", None), "path", None)
        if path is None and record.name == "django.server" and record.args:
            _, _, target = str(record.args[0]).partition(" ")  # "HEAD /health/ready/ HTTP/1.1"
            path = target.partition(" ")[0].partition("?")[0]
        return path not in PROBE_PATHS


class SkipServedLines(logging.Filter):
    """Drops the development server's access lines (a `status_code` on a django.server record): the portal's
    own request line says more. Its other records (a broken pipe, HTTPS spoken to it) stay."""

    def filter(self, record):
        served = record.name == "django.server" and record.args and getattr(record, "status_code", None) is not None
        return not served
