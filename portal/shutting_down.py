"""Whether this server is shutting down: the flag POSIX serving raises (portal/shutdown.py) and readiness reads.

Apart from the shutdown itself so that what reads the flag (readiness, the drain state, the checks) works on
every platform, the development server included, where nobody ever raises it.

The flag is one byte of memory mapped before the workers are forked, shared by the master
and all its workers and by nothing else: a shutdown is not an operator's drain, and the
next server starts serving.
"""

import mmap

# MAP_SHARED and anonymous: the master's writes are seen by the workers it forked, before or after the write.
_flag = mmap.mmap(-1, 1)


def announce():
    """From now on this server's readiness answers 503 "shutting down", in every worker."""
    _flag[0] = 1


def announced():
    """Whether this server is shutting down: one byte read, cheap enough for every probe."""
    return _flag[0] == 1


def reset():
    """Serving again (tests; a new server maps a flag of its own)."""
    _flag[0] = 0
