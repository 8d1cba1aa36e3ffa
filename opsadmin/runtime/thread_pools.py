"""Thread pools that survive a fork: gunicorn's preloading master uses them before forking its workers.

Threads don't cross a fork, but a ThreadPoolExecutor does: a worker forked from a master
whose pool had idle threads inherits their count, and queues the work it submits for
threads it doesn't have (readiness would then time out every check). A `ForkSafeThreadPool`
starts a pool of its own in each forked child.
"""

import os
from concurrent.futures import Executor, ThreadPoolExecutor
from weakref import WeakSet

_pools = WeakSet()


class ForkSafeThreadPool(Executor):
    """A ThreadPoolExecutor(**options) of this process's own."""

    def __init__(self, **options):
        self._options = options
        self._pool = ThreadPoolExecutor(**options)
        _pools.add(self)

    def submit(self, fn, /, *args, **kwargs):
        return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait=True, *, cancel_futures=False):
        self._pool.shutdown(wait, cancel_futures=cancel_futures)

    def _renew(self):
        self._pool = ThreadPoolExecutor(**self._options)


def _after_fork_in_child():
    for pool in list(_pools):
        pool._renew()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
