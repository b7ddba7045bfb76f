"""How a command ends: exit codes, the one ``Error:`` line, and ``--debug`` tracebacks.

| code | meaning |
| 0 | success |
| 1 | runtime failure: a corrupt file, a full disk, NaN, a bug (``TenasRuntimeError`` or unexpected) |
| 2 | usage: unknown name, bad value, malformed string (``TenasError``, click's usage errors) |
| 130 | interrupted by Ctrl-C (SIGINT) |
| 1 | also: finished, but stdout could not be written (``> /dev/full``, a full disk): said in one line |
| 141 | finished, but stdout was closed before everything was printed (``| head``): what a shell reports for SIGPIPE |
| 143 | interrupted by SIGTERM |
"""

from __future__ import annotations

import os
import select
import sys
import traceback

import click

from tenas_kit import stopping
from tenas_kit.errors import Interrupted, PluginFailure, TenasError, one_line

DEBUG = "TENASKIT_DEBUG"
PIPE_CLOSED = 141  # 128 + SIGPIPE


class _Output:
    closed = False  # stdout's reader went away (``| head``); the command goes on without printing
    failed = None  # the OSError a write to stdout raised (``> /dev/full``); the command goes on, then exits 1


class GuardedStdout:
    """``sys.stdout`` while a command runs: a print that fails must not stop the work, whose results go to
    files. A closed pipe is ``stdout_closed``; any other failure (a full disk, ``/dev/full``, a bad
    descriptor) is remembered for the exit. Either way later output goes nowhere, quietly."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        self._guarded(self._stream.write, text)
        return len(text)

    def flush(self):
        self._guarded(self._stream.flush)

    def _guarded(self, call, *args):
        try:
            call(*args)
        except BrokenPipeError:
            stdout_closed(self._stream)
        except OSError as exc:
            if _Output.failed is None:
                _Output.failed = exc
            _silence(self._stream)

    def __getattr__(self, name):  # isatty, fileno, encoding: what rich and click ask of a stream
        return getattr(self._stream, name)


def finish(invoke, debug):
    """Run ``invoke()`` and exit with the code its outcome calls for."""
    try:
        try:
            invoke()
        finally:
            stopping.hold()  # a signal from here on must not cut the exit short with a traceback
    except click.exceptions.Exit as exc:
        if exc.exit_code:
            sys.exit(exc.exit_code)
    except PluginFailure as exc:
        hint = "" if debug else " (rerun with --debug for the plugin's traceback)"
        fail(f"Error: {one_line(exc)}{hint}", exc.exit_code, debug)
    except TenasError as exc:
        fail(f"Error: {one_line(exc)}", exc.exit_code, debug)
    except click.ClickException as exc:
        fail(f"Error: {one_line(exc.format_message())}", exc.exit_code, debug)
    except Interrupted as exc:
        stopping.exit_quickly(exc.exit_code)
        fail(f"interrupted{stopping.by(exc.exit_code)}: {one_line(exc)}", exc.exit_code, debug)
    except (KeyboardInterrupt, click.exceptions.Abort) as exc:
        code = stopping.exit_code(exc)
        stopping.exit_quickly(code)
        fail(f"interrupted{stopping.by(code)}: rerun the same command to resume from what was finished.", code, debug)
    except BrokenPipeError as exc:
        if not stdout_gone():
            unexpected(exc, debug)
        stdout_closed()
    except Exception as exc:  # a bug or an unforeseen failure: still one line, the traceback on request
        unexpected(exc, debug)
    if sys.stdout is not None:
        sys.stdout.flush()  # what is still buffered: its failure is the command's too (guarded by main)
    if _Output.failed is not None:
        reason = _Output.failed.strerror or one_line(_Output.failed)
        fail(f"Error: cannot write to standard output ({reason}); the command finished, but what it printed is "
             f"lost: send its output to a file or device that takes it.", 1, False)
    sys.exit(PIPE_CLOSED if _Output.closed else 0)


def unexpected(exc, debug):
    hint = "" if debug else " (rerun with --debug for the traceback, and report it if it looks like a bug)"
    fail(f"Error: unexpected {type(exc).__name__}: {one_line(exc)}{hint}", 1, debug)


def fail(line, code, debug):
    if debug:
        traceback.print_exc()
    try:
        click.echo(line, err=True)
    except OSError:
        pass  # stderr is gone too: the exit code is all that is left to say it
    sys.exit(code)


def stdout_closed(stream=None):
    """Stdout's reader is gone: later output goes nowhere, quietly, while the command finishes its work (its
    results are in files) and then exits 141."""
    _Output.closed = True
    _silence(stream or sys.stdout)


def _silence(stream):
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())  # later writes, and the interpreter's flush at exit, then succeed
        os.close(devnull)
        stream.flush()  # what was buffered goes nowhere rather than failing again
    except (OSError, ValueError, AttributeError):
        pass  # not a real file (tests capture stdout): nothing to redirect


def stdout_gone():
    """Whether stdout is a pipe nobody reads any more (a BrokenPipeError may come from another pipe)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def reset():
    _Output.closed, _Output.failed = False, None


def debug_requested(argv):
    return bool(os.environ.get(DEBUG)) or "--debug" in leading_options(argv)


def leading_options(argv):
    """The options before the command name: the global ones, which must act before parsing."""
    out = []
    for arg in argv:
        if not arg.startswith("-"):
            break
        out.append(arg)
    return out
