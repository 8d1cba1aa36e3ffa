"""Which errors mean a dependency is out, gone or hung, as opposed to an answer to a bad request.

The breakers count only these (PORTAL_BREAKERS' `failures`): a syntax error, a constraint
or a statement cancelled by its own timeout is the server answering, and counts as a
success. Django and django-redis wrap the driver's error; the chain of causes is read.
"""

import psycopg2
import redis

# SQLSTATEs of a server that is going away or can't take the connection; class 08 is the connection's own.
SERVER_GONE = {"57P01", "57P02", "57P03", "53300"}  # admin shutdown, crash, starting up, too many connections


def causes(error):
    """The error and the errors it was raised from."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def database_outage(error):
    """A PostgreSQL error of the connection (refused, reset, timed out, closed) or of a server going away."""
    for cause in causes(error):
        if isinstance(cause, psycopg2.InterfaceError):  # the connection is already closed
            return True
        if isinstance(cause, psycopg2.OperationalError):
            code = cause.pgcode
            return code is None or code.startswith("08") or code in SERVER_GONE
    return False


def redis_outage(error):
    """Redis refused, reset, timed out or is loading; not a command Redis answered with an error."""
    return any(isinstance(cause, redis.ConnectionError | redis.TimeoutError | OSError) for cause in causes(error))
