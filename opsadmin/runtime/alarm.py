"""An alarm for the main thread's work: after some seconds its handler runs there, as a signal's handler does.

The task worker's stop time (PORTAL_TASK_STOP_SECONDS) needs one on every platform, the development path included.
Where the platform has SIGALRM (POSIX), the alarm is that signal: its handler runs even while the main thread is
blocked in a call (a sleep, a socket read). Elsewhere (Windows), a timer thread simulates SIGINT in the main thread
(`_thread.interrupt_main`), the alarm's handler standing in for SIGINT's until the alarm is cancelled: it runs at
the main thread's next Python instruction, so a task blocked in one long call is interrupted once that call returns.
"""

import _thread
import signal
import threading


class Alarm:
    """One alarm at a time, calling `handler(signum, frame)`; started and cancelled from the main thread."""

    def __init__(self, handler):
        self.handler = handler
        self._timer = None
        self._restore = None  # (signal, its handler before the alarm's) while the alarm is set

    def start(self, seconds):
        if hasattr(signal, "SIGALRM"):
            self._restore = (signal.SIGALRM, signal.signal(signal.SIGALRM, self.handler))
            signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))
        else:
            self._restore = (signal.SIGINT, signal.signal(signal.SIGINT, self.handler))
            self._timer = threading.Timer(seconds, _thread.interrupt_main, args=(signal.SIGINT,))
            self._timer.daemon = True
            self._timer.start()

    def cancel(self):
        """The alarm off and its signal's handler as it was before; nothing to do when none is set."""
        if self._restore is None:
            return
        if hasattr(signal, "SIGALRM"):
            signal.setitimer(signal.ITIMER_REAL, 0)
        else:
            self._timer.cancel()
        signum, previous = self._restore
        self._restore = None
        signal.signal(signum, signal.SIG_DFL if previous is None else previous)  # None: not set from Python
