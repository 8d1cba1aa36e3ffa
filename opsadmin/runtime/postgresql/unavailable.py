"""What callers of the database catch while it is out: one error for a refused call and a failed one."""

from django.db import OperationalError

from opsadmin.runtime import breakers


class DatabaseUnavailable(breakers.Unavailable, OperationalError):
    """The database's breaker is open, or the server refused, dropped or did not answer a call.

    An `Unavailable`, so the doors answer 503 with its Retry-After (portal/errors.py), and an
    OperationalError, so code that already waits out a lost connection (the task worker) does.
    """

    @classmethod
    def refused(cls, unavailable):
        """The breaker did not let the call through: it is open, or its trial call is running."""
        return cls(unavailable.breaker, unavailable.state, unavailable.retry_after)

    @classmethod
    def failed(cls, breaker, error):
        """The server failed a call the breaker counted: says how, in one line."""
        refused = breaker.unavailable()
        failure = cls(refused.breaker, refused.state, refused.retry_after)
        failure.args = (f"{breaker.name} unavailable: {breakers.describe(error)}",)
        return failure
