"""Stop signals: SIGINT (Ctrl-C) and SIGTERM (``kill``, batch schedulers) end a command the same way.

``install()`` makes either signal raise ``Stopped``, a ``KeyboardInterrupt``, so the cleanup written for
Ctrl-C (keep what finished, mark the run interrupted, end the workers) serves both; the exception carries
the exit code a shell expects (128 + the signal: 130, 143). Only the first signal raises: later ones
arrive while that cleanup runs, and cutting it short would lose what it is saving.

``deferred()`` holds a stop back for the length of a block whose interruption would leave something behind
(a worker process started but not yet recorded), and makes processes started in it inherit a blocked
mask, so that they do not react to a signal meant for the whole process group before they have chosen
how to.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stopped(KeyboardInterrupt):
    """A stop signal, raised where the main thread was when it arrived."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum


class _State:
    stop = None  # the first Stopped since install()
    raised = False  # whether it has been raised (it waits while a deferred block runs)
    depth = 0  # nesting of deferred() blocks
    quiet = False  # hold(): the command is ending anyway; record a stop, raise nothing
    exit_code = None  # exit_quickly(): leave without the interpreter's teardown


_state = _State()


def exit_code(exc, default=130):
    return getattr(exc, "exit_code", default)


def by(code):
    """How an exit code names its signal in the one-line message: '' for Ctrl-C, ' by SIGTERM' otherwise."""
    if code in (None, 128 + signal.SIGINT):
        return ""
    try:
        return f" by {signal.Signals(code - 128).name}"
    except ValueError:
        return ""


def _raise(signum, frame):
    if _state.stop is not None:
        return
    _state.stop = Stopped(signum)
    if _state.depth or _state.quiet:
        return
    _state.raised = True
    raise _state.stop


def _exit_at_once(signum, frame):
    # Nothing has been started or written yet: leave without unwinding imports (no traceback).
    os.write(2, f"interrupted{by(128 + signum)}: nothing was started; run the command again.\n".encode())
    os._exit(128 + signum)


def install(at_once=False):
    """Handle SIGINT and SIGTERM from now on; returns the previous handlers for ``restore``. ``at_once``: end the
    process on the spot (for the seconds of start-up before any cleanup exists). Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = {signum: signal.getsignal(signum) for signum in SIGNALS}
    _state.stop, _state.raised, _state.quiet, _state.exit_code = None, False, False, None
    for signum in SIGNALS:
        signal.signal(signum, _exit_at_once if at_once else _raise)
    return previous


def restore(previous):
    if previous:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
    _state.stop, _state.raised, _state.quiet, _state.exit_code = None, False, False, None


def hold():
    """From now on a stop signal is recorded, never raised: the command is already on its way out."""
    _state.quiet = True


def received():
    """The stop signal received since ``install``, raised or not; None if none came."""
    return _state.stop


def interruption(exc):
    """The stop behind ``exc``: ``exc`` itself for a KeyboardInterrupt, or the stop signal that arrived while it
    was raised (a pool whose workers the same signal ended, say); None for an ordinary failure."""
    if isinstance(exc, KeyboardInterrupt):
        return exc
    return _state.stop


@contextmanager
def deferred():
    """Run the block to its end even if a stop signal arrives; the stop is raised after it."""
    blocked = hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread()
    _state.depth += 1
    old = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS) if blocked else None
    try:
        yield
    finally:
        if blocked:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)  # a signal held by the mask is handled here
        _state.depth -= 1
        if not _state.depth and _state.stop is not None and not _state.raised and not _state.quiet:
            _state.raised = True
            raise _state.stop


def exit_quickly(code):
    """Once the exit handlers have run, end the process with ``code`` and skip the interpreter's teardown.

    Tearing down an interpreter that has PyTorch loaded takes about a second, which a stopped command cannot
    spend (it promises to end within 2 s of the signal). By then every file is closed and the workers are
    gone; the exit handlers that run before ``quick_exit`` (registered first, so it runs last) release what
    multiprocessing holds."""
    _state.exit_code = code


def quick_exit():
    """The last exit handler of the console script (see ``exit_quickly``)."""
    if _state.exit_code is None:
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(_state.exit_code)


def is_command_line():
    """Whether this process is the ``tenaskit`` console script (not a test or a program importing the CLI)."""
    return bool(sys.argv) and os.path.basename(sys.argv[0]) == "tenaskit"
