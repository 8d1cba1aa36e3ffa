"""How the portal logs: a line per record on stderr, a traceback only for an error; probes are not logged.

Django logs nothing of a 500 with DEBUG off unless LOGGING sends it somewhere (its
default handler only mails admins), so settings.LOGGING sends every record to stderr,
where gunicorn, systemd or the container runtime collect it. A warning stays one line
(an exception it carries is named, not traced back; a message's line breaks are joined),
as is an error a client caused (a forged Host header),
so a dependency that flaps doesn't bury the errors. Load balancers probe /health/live/
and /health/ready/ every few seconds: a line per probe would bury everything else;
readiness logs its own changes instead (opsadmin.health.readiness).
"""

import logging

from django.core.exceptions import SuspiciousOperation

PROBE_PATHS = frozenset({"/health/live/", "/health/ready/"})


class OneLineBelowError(logging.Formatter):
    """Records below ERROR on one line, any exception reduced to its type and first line; so are a client's
    suspicious requests (a forged Host header is the client's doing: its traceback would only say where
    Django noticed)."""

    def format(self, record):
        clients_fault = record.exc_info and isinstance(record.exc_info[1], SuspiciousOperation)
        if record.levelno >= logging.ERROR and not clients_fault:
            return super().format(record)
        line = logging.makeLogRecord(record.__dict__)
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            first = (str(error).strip().splitlines() or [""])[0]
            message += f" ({type(error).__name__}: {first})" if first else f" ({type(error).__name__})"
        line.msg, line.args, line.exc_info, line.exc_text, line.stack_info = message, (), None, None, None
        return " | ".join(super().format(line).splitlines())


class SkipProbeRequests(logging.Filter):
    """Drops the per-request records of the load balancers' probes: django.request's (a 405, say) and the
    development server's access lines (django.server, whose first argument is the request line)."""

    def filter(self, record):
        path = getattr(getattr(record, "request", None), "path", None)
        if path is None and record.name == "django.server" and record.args:
            _, _, target = str(record.args[0]).partition(" ")  # "HEAD /health/ready/ HTTP/1.1"
            path = target.partition(" ")[0].partition("?")[0]
        return path not in PROBE_PATHS
