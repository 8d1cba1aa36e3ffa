"""One connect, retried with exponential backoff and jitter, bounded in tries and in time.

A server restarting or briefly overloaded refuses a connection now and takes one a moment
later; a server that is down refuses them all, and a caller must not wait long to hear it.
Each try gets the connect timeout or what is left of the budget, whichever is less; only
outages (outages.database_outage) are tried again, and a pause is logged at DEBUG.
"""

import logging
import time

import tenacity

from opsadmin.runtime.outages import database_outage
from opsadmin.runtime.postgresql import deadlines

logger = logging.getLogger(__name__)

SHORTEST_TRY = 0.05  # seconds: a try is never given less, even when the budget is nearly spent


def connect(attempt, *, budget, timeout):
    """`attempt(seconds)`'s connection, where `seconds` bounds that try; its last error when every try failed.

    `budget`: the process's budgets.Budget; `timeout`: one try's connect timeout. A thread
    deadline (deadlines.within) shortens the budget.
    """
    seconds = min(budget.connect_seconds, deadlines.remaining())
    started = time.monotonic()

    def one_try():
        left = seconds - (time.monotonic() - started)
        return attempt(max(SHORTEST_TRY, min(timeout, left)))

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(budget.connect_attempts) | tenacity.stop_before_delay(seconds),
        wait=tenacity.wait_exponential_jitter(multiplier=budget.first_retry, max=seconds, jitter=budget.first_retry),
        retry=tenacity.retry_if_exception(database_outage),
        before_sleep=tenacity.before_sleep_log(logger, logging.DEBUG),
        reraise=True,
    )
    return retrying(one_try)
