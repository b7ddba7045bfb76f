"""The ``tenaskit`` command line: parsing and display over the library (``tenas_kit.lifecycle``).

One module per command group: ``search`` (run, show, export), ``rank`` (rank, correlate, merge), ``plots``
(plot, report), ``info`` (plugins, inspect), ``train`` (train). Nothing here imports PyTorch until a command needs it.
"""

from __future__ import annotations

import atexit
import os
import sys

from tenas_kit import stopping

if stopping.is_command_line():
    # Before the imports below, which take a noticeable time: a stop signal now ends the process at once
    # with one line, rather than a KeyboardInterrupt traceback (SIGINT) or a silent death (SIGTERM).
    stopping.install(at_once=True)
    atexit.register(stopping.quick_exit)  # registered before any library's exit handler, so it runs after them all

import click  # noqa: E402

from tenas_kit import __version__  # noqa: E402
from tenas_kit.cli import exits, info, plots, rank, search, train  # noqa: E402
from tenas_kit.cli.common import add_plugin_options, console, parse_proxies, plugin_option  # noqa: E402
from tenas_kit.plugins import NO_PLUGINS, loader, registry  # noqa: E402


@click.group()
@click.version_option(__version__, prog_name="tenaskit")
@click.option("--debug", is_flag=True, help="On an error, print the traceback as well as the one-line message.")
@click.option("--no-plugins", is_flag=True, help="Load only tenas-kit's built-in plugins (no third-party entry points, no --plugin).")
def cli(debug, no_plugins):
    """Training-free neural architecture search (TE-NAS)."""
    # Both act in main() before parsing (plugins add commands and options); declared here for --help.


for command in (search.run, search.show, search.export, train.train, info.plugins_command, info.inspect):
    cli.add_command(command)
rank.register(cli, console, plugin_option, parse_proxies, registry)
plots.register(cli, console, plugin_option, registry)


def _register_plugin_commands():
    current = loader()
    for name in ("run", "rank"):
        add_plugin_options(cli.commands[name], current.registry)
    for impl in current.pm.hook.register_commands.get_hookimpls():
        try:
            impl.function(cli=cli)
        except Exception as exc:  # a plugin's command must not break the CLI
            current._broken(impl.plugin_name, current.registry.plugins.get(impl.plugin_name, "?"),
                            f"register_commands raised {type(exc).__name__}: {exc}")


def named_plugins(argv):
    """The values of ``--plugin`` and ``--plugins-dir`` wherever they stand in ``argv``."""
    found = []
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        for flag in ("--plugin", "--plugins-dir"):
            if arg == flag and i + 1 < len(argv):
                found.append(argv[i + 1])
            elif arg.startswith(flag + "="):
                found.append(arg[len(flag) + 1:])
    return found


def main(argv=None):
    # SIGTERM is handled as Ctrl-C is, from the first line: both raise stopping.Stopped (a KeyboardInterrupt).
    previous, stdout = stopping.install(), sys.stdout
    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        if "--no-plugins" in exits.leading_options(argv):
            os.environ[NO_PLUGINS] = "1"
        debug = exits.debug_requested(argv)
        exits.reset()
        # A print that fails (a closed pipe, /dev/full) must not abandon the work, whose results go to files:
        # the command finishes quietly, then exits 141 or 1 (rich's own reaction would be SystemExit(1)).
        if sys.stdout is not None:
            sys.stdout = exits.GuardedStdout(stdout)

        def invoke():
            registry(named_plugins(argv))  # before parsing, as pytest's -p: their options are on the command line
            _register_plugin_commands()
            # Not cli.main: it turns KeyboardInterrupt into Abort after printing a blank line, and a closed
            # stdout into exit 1; exits.finish gives each its own line and code.
            completion = getattr(cli, "_main_shell_completion", None)
            if completion is not None:
                completion({}, "tenaskit", None)
            with cli.make_context("tenaskit", argv) as ctx:
                cli.invoke(ctx)

        exits.finish(invoke, debug)
    finally:
        sys.stdout = stdout
        if not stopping.is_command_line():
            # Called from Python (tests, a program): leave its signal handling as it was. The console
            # script keeps the handlers through the interpreter's exit.
            stopping.restore(previous)
