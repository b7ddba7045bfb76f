"""How a command ends: exit codes, the one ``Error:`` line, and ``--debug`` tracebacks.

| code | meaning |
| 0 | success |
| 1 | runtime failure: a corrupt file, a full disk, NaN, a bug (``TenasRuntimeError`` or unexpected) |
| 2 | usage: unknown name, bad value, malformed string (``TenasError``, click's usage errors) |
| 130 | interrupted by Ctrl-C |
"""

from __future__ import annotations

import os
import sys
import traceback

import click

from tenas_kit.errors import Interrupted, TenasError

DEBUG = "TENASKIT_DEBUG"


def one_line(text):
    """Messages from libraries may span lines; the CLI promises exactly one."""
    return " ".join(str(text).split())


def finish(invoke, debug):
    """Run ``invoke()`` and exit with the code its outcome calls for."""
    try:
        invoke()
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except TenasError as exc:
        fail(f"Error: {one_line(exc)}", exc.exit_code, debug)
    except click.ClickException as exc:
        fail(f"Error: {one_line(exc.format_message())}", exc.exit_code, debug)
    except Interrupted as exc:
        fail(f"interrupted: {one_line(exc)}", exc.exit_code, debug)
    except (KeyboardInterrupt, click.exceptions.Abort):
        fail("interrupted: rerun the same command to resume from what was finished.", 130, debug)
    except Exception as exc:  # a bug or an unforeseen failure: still one line, the traceback on request
        hint = "" if debug else " (rerun with --debug for the traceback, and report it if it looks like a bug)"
        fail(f"Error: unexpected {type(exc).__name__}: {one_line(exc)}{hint}", 1, debug)
    sys.exit(0)


def fail(line, code, debug):
    if debug:
        traceback.print_exc()
    click.echo(line, err=True)
    sys.exit(code)


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
