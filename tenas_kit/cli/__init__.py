"""The ``tenaskit`` command line: parsing and display over the library (``tenas_kit.lifecycle``).

One module per command group: ``search`` (run, show, export), ``rank`` (rank, correlate, merge), ``plots``
(plot, report), ``info`` (plugins, inspect). Nothing here imports PyTorch until a command needs it.
"""

from __future__ import annotations

import os
import sys

import click

from tenas_kit import __version__
from tenas_kit.cli import exits, info, plots, rank, search
from tenas_kit.cli.common import add_plugin_options, console, parse_proxies, plugin_option
from tenas_kit.plugins import NO_PLUGINS, loader, registry


@click.group()
@click.version_option(__version__, prog_name="tenaskit")
@click.option("--debug", is_flag=True, help="On an error, print the traceback as well as the one-line message.")
@click.option("--no-plugins", is_flag=True, help="Load only tenas-kit's built-in plugins (no third-party entry points, no --plugin).")
def cli(debug, no_plugins):
    """Training-free neural architecture search (TE-NAS)."""
    # Both act in main() before parsing (plugins add commands and options); declared here for --help.


for command in (search.run, search.show, search.export, info.plugins_command, info.inspect):
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


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--no-plugins" in exits.leading_options(argv):
        os.environ[NO_PLUGINS] = "1"
    debug = exits.debug_requested(argv)

    def invoke():
        _register_plugin_commands()
        cli.main(args=argv, prog_name="tenaskit", standalone_mode=False)

    exits.finish(invoke, debug)
