"""A pool used before a fork works in the child: the child starts threads of its own."""

import os
import time
from concurrent.futures import ThreadPoolExecutor, wait

import pytest

from opsadmin.runtime.thread_pools import ForkSafeThreadPool

pytestmark = pytest.mark.posix  # os.fork


def answer_in_forked_child(pool):
    """What `pool` answers in a child forked after its idle threads were started: 0 for 42 within 2 s, 1 else."""
    wait([pool.submit(time.sleep, 0.01) for _ in range(4)])
    time.sleep(0.1)  # the threads are idle again
    child = os.fork()
    if child == 0:
        done, _ = wait([pool.submit(int, "42")], timeout=2)
        os._exit(0 if done and done.pop().result() == 42 else 1)
    return os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of fork:DeprecationWarning")
def test_a_pool_used_before_a_fork_answers_in_the_child():
    assert answer_in_forked_child(ForkSafeThreadPool(max_workers=4)) == 0


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of fork:DeprecationWarning")
def test_a_plain_pool_would_not():
    """Why the fork-safe pool exists: the work waits for threads the child doesn't have."""
    assert answer_in_forked_child(ThreadPoolExecutor(max_workers=4)) == 1
