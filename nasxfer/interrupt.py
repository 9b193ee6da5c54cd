"""Stopping a grid cleanly on SIGTERM / SIGINT (a batch scheduler's wall-time limit, Ctrl-C).

Inside :func:`stop_on_signals` either signal raises :class:`GridStopped` in the main thread, so
the unit in flight unwinds through its ``finally`` (the agent's Ray actors stopped, no part
written for it) and the caller can shut Ray down and print how to resume. Later signals are
ignored while that cleanup runs.

Ray's core worker installs its own C++ handler for SIGTERM when ``ray.init`` connects the driver
(it dumps a stack trace and aborts), replacing ours without Python noticing; the grid therefore
calls :func:`reinstall` once Ray is up. Code that waits inside Ray (``ray.wait``) cannot take an
exception raised from a signal handler (it surfaces as a ``SystemError``); it runs
:func:`deferred`, where a signal is only recorded, and polls :func:`received` between short waits.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

_active: tuple[int, ...] = ()
_received: int | None = None
_defer = False


class GridStopped(BaseException):
    """A stop signal arrived; ``done`` / ``total`` say how far the grid got (set by the grid)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.done: int | None = None
        self.total: int | None = None
        self.unit = "agents"  # what done / total count

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


def _handler(signum, frame):
    global _received
    if _received is not None:
        return  # already stopping: let the cleanup finish
    _received = signum
    if not _defer:
        raise GridStopped(signum)


def received() -> int | None:
    """The stop signal that arrived inside :func:`stop_on_signals`, if any."""
    return _received


def reinstall() -> None:
    """Put our handlers back (after a library replaced them at the C level, as ``ray.init`` does)."""
    if _active and threading.current_thread() is threading.main_thread():
        for s in _active:
            signal.signal(s, _handler)


@contextmanager
def deferred():
    """While the block runs, a stop signal is recorded (see :func:`received`), not raised; our
    handlers are put back first, as Ray's may have replaced them. Outside :func:`stop_on_signals`
    (a notebook, a library call) nothing changes."""
    global _defer
    before = _defer
    _defer = True
    reinstall()
    try:
        yield
    finally:
        _defer = before


@contextmanager
def stop_on_signals(*signums: int):
    """Turn `signums` (default SIGTERM and SIGINT) into :class:`GridStopped` while the block runs."""
    global _active, _received
    signums = signums or (signal.SIGTERM, signal.SIGINT)
    previous = {s: signal.getsignal(s) for s in signums}
    _active, _received = tuple(signums), None
    reinstall()
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)
        _active = ()
