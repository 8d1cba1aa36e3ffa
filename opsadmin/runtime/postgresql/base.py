"""Django's PostgreSQL engine behind the `database` circuit breaker, within the budgets of its process kind.

- A new connection is tried a few times with backoff (connecting.py); one exhausted connect
  is one failure of the breaker, and while the breaker is open none is tried.
- Every statement (an execute wrapper), commit and rollback goes through the breaker too,
  so an open breaker fails them at once on a connection already open. The breaker reads its
  shared state at most every PORTAL_BREAKER_SYNC_SECONDS: a healthy call adds no round trip.
- Errors the breaker counts (outages.database_outage: refused, reset, gone, hung) are raised
  as DatabaseUnavailable from the original; SQL errors and statement timeouts are the server
  answering, and pass unchanged.
- The server's statement_timeout comes with the connection (a startup option, no round
  trip), and the client waits no longer than it plus a grace (deadlines.py). Through a
  transaction pooler (pooling.py) the role's own statement_timeout applies instead.
- Every session names itself the portal's, with its instance and purpose (application.py): the Live
  queries page never ends one, and counts them.
"""

import functools

from django.db.backends.postgresql import base as postgresql

from opsadmin.runtime import breakers
from opsadmin.runtime.postgresql import budgets, connecting, deadlines, pooling
from opsadmin.runtime.postgresql.application import APPLICATION_NAME, session_name
from opsadmin.runtime.postgresql.unavailable import DatabaseUnavailable

BREAKER = "database"


class DatabaseWrapper(postgresql.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        deadlines.install()
        self.execute_wrappers.append(self._guard_statement)

    def get_connection_params(self):
        params = super().get_connection_params()
        if not pooling.transaction_pooled(self):  # a transaction pooler refuses startup options (its role's instead)
            timeout = f"-c statement_timeout={budgets.current().statement_timeout}"
            params["options"] = f"{params['options']} {timeout}" if params.get("options") else timeout
        params["application_name"] = session_name(params.get("application_name") or APPLICATION_NAME)
        return params

    def get_new_connection(self, conn_params):
        budget = budgets.current()
        connect = super().get_new_connection

        def attempt(seconds):
            factory = functools.partial(deadlines.DeadlineConnection, wait_limit=seconds)
            return connect({**conn_params, "connection_factory": factory})

        connection = self._guarded(connecting.connect, attempt, budget=budget, timeout=self._connect_timeout(budget))
        connection.wait_limit = deadlines.statement_limit(budget.statement_timeout)
        return connection

    def is_usable(self):
        """Django's check of a reused connection (SELECT 1), given no longer than a connect; False at once while
        the breaker is open (Django then closes it, and the next use is refused by the breaker)."""
        breaker = breakers.get(BREAKER)
        if breaker.current_state == breakers.OPEN and breaker.seconds_until_trial() > 0:
            return False
        with deadlines.limited(self.connection, self._connect_timeout(budgets.current())):
            return super().is_usable()

    def _commit(self):
        return self._guarded(super()._commit)

    def _rollback(self):
        return self._guarded(super()._rollback)

    def _guard_statement(self, execute, sql, params, many, context):
        return self._guarded(execute, sql, params, many, context)

    def _guarded(self, function, *args, **kwargs):
        """`function(...)` through the breaker: DatabaseUnavailable while it is open, or for an error it counts."""
        breaker = breakers.get(BREAKER)
        try:
            return breaker.call(function, *args, **kwargs)
        except breakers.Unavailable as refused:
            raise DatabaseUnavailable.refused(refused) from None
        except Exception as error:
            if breaker.is_system_error(error):
                raise DatabaseUnavailable.failed(breaker, error) from error
            raise

    def _connect_timeout(self, budget):
        """One try's connect timeout (OPTIONS connect_timeout, as libpq reads it), within the process's budget."""
        timeout = self.settings_dict["OPTIONS"].get("connect_timeout")
        return min(float(timeout), budget.connect_seconds) if timeout else budget.connect_seconds
