"""Errors a user can act on: the CLI prints them as one ``Error:`` line and exits with their code.

Two kinds, told apart by ``exit_code`` so that scripts can react differently:

- ``TenasError`` (2, usage): what was typed is wrong -- an unknown name, a bad
  value, a malformed architecture, a path that does not exist or holds the
  wrong kind of thing. Retrying the same command cannot help.
- ``TenasRuntimeError`` (1): what was typed is fine, but doing it failed -- a
  corrupt or unreadable file, a full or read-only disk, a network that gives
  NaN, a plugin that breaks its contract.

Plugins raise ``TenasError`` for bad input, as before; it stays a usage error.
"""


class TenasError(Exception):
    """Something the user asked for cannot be done; the message says how to fix it."""

    exit_code = 2


class TenasRuntimeError(TenasError):
    """The request was valid but could not be carried out (I/O, corrupt data, numerical failure)."""

    exit_code = 1


class PluginFailure(TenasRuntimeError):
    """A plugin's own code raised; its traceback (``--debug``) ends in the plugin's line that raised."""


class Interrupted(Exception):
    """Ctrl-C, after the command saved what was finished; the message says how to resume."""

    exit_code = 130


def closest(name, choices):
    """The registered name nearest to a misspelt one, or None."""
    import difflib

    found = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return found[0] if found else None


def unknown(kind, name, choices):
    hint = closest(name, choices)
    known = ", ".join(sorted(choices)) or "none registered"
    suggestion = f" Did you mean '{hint}'?" if hint else ""
    return TenasError(f"unknown {kind} '{name}'.{suggestion} Known: {known}.")


def one_line(text):
    """Messages from libraries may span lines; an error is shown on exactly one."""
    return " ".join(str(text).split())
