"""What the commands share: the console, option parsing, and the options plugins declare."""

from __future__ import annotations

import click
from click.core import ParameterSource
from rich.console import Console

from tenas_kit.errors import TenasError

console = Console()

# The plugin kinds whose ``cli_options`` each command shows: a pruner's option only where a pruner runs.
USES = {"run": ("proxy", "pruner", "executor", "oracle"), "rank": ("proxy", "executor")}


def parse_proxies(text):
    """``ntk,regions,synflow:0.5`` -> [(name, weight)], checked as the API checks its ``proxies``."""
    from tenas_kit.arguments import check_proxies

    out = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, weight = item.partition(":")
        try:
            value = float(weight) if weight else 1.0
        except ValueError:
            raise TenasError(f"weight '{weight}' of proxy '{name}' is not a number; write e.g. ntk:1,regions:0.5.") from None
        out.append((name, value))
    check_proxies(out)
    return out


def plugin_option(command):
    return click.option(
        "--plugin", "--plugins-dir", "plugins", multiple=True, metavar="MODULE|FILE.py|DIR",
        help="Load an extra plugin: a module, a .py file, or every .py file of a directory (repeatable).",
    )(command)


def add_plugin_options(command, registry):
    """Give ``command`` the options of every plugin of the kinds it uses; remember which are the executors'.
    An object declaring one of the command's own options is withdrawn: its value would never reach it."""
    from tenas_kit.plugins import declarer, option_keys

    if not hasattr(command, "own_params"):
        command.own_params = list(command.params)  # main() may run again in this process, with other plugins
    command.params = list(command.own_params)
    own = {key for param in command.own_params for key in option_keys(param)}
    taken = set(own)
    command.executor_options, command.oracle_options = set(), set()
    for kind in USES[command.name]:
        for obj in registry.all(kind):
            clash = next((k for o in getattr(obj, "cli_options", ()) for k in option_keys(o) if k in own), None)
            if clash is not None:
                entry = registry.entries[kind][obj.name]
                registry.withdraw(kind, obj.name, f"{declarer(kind, obj.name, entry.plugin)} declares {clash}, which "
                                                  f"is tenaskit {command.name}'s own option; rename it")
                continue
            for option in getattr(obj, "cli_options", ()):
                if kind in ("executor", "oracle"):
                    getattr(command, f"{kind}_options").add(option.name)
                if option.name not in taken:  # shared options (the zero-cost proxies') are added once
                    command.params.append(option)
                    taken.add(option.name)


def plugin_values(values):
    """``(options, executor_options)`` from a command's plugin options: only those the user gave, so that a
    plugin's default never lands in another plugin's settings or in the run's recorded settings."""
    ctx = click.get_current_context()
    given = {name: value for name, value in values.items()
             if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)}
    executor = getattr(ctx.command, "executor_options", set())
    return ({k: v for k, v in given.items() if k not in executor}, {k: v for k, v in given.items() if k in executor})


def note_stand_in(data):
    if data == "embedded":
        console.print("[yellow]note:[/] the embedded stand-in is not your data set; pass --data DIR for real images.")


def preset_option(command):
    return click.option("--preset", default=None, metavar="NAME",
                        help="A named proxy set with its combination rule, in place of --proxies (tenaskit plugins "
                             "lists presets; 'best' is the ensemble to reach for first, 'tenas' is ntk,regions).")(command)


def benchmark_options(command):
    """``--benchmark`` and ``--benchmark-column``, as every command that looks accuracies up takes them."""
    command = click.option("--benchmark-column", default=None, metavar="COLUMN",
                           help="One column of --benchmark (default: every column a command shows, the first one it "
                                "correlates; a CSV's first column with 'acc').")(command)
    return click.option("--benchmark", default=None, metavar="NAME[:COLUMN]|FILE.csv",
                        help="Benchmark table: a registered one (tenaskit plugins lists them) or a CSV with 'arch' "
                             "and an accuracy column. Default: the space's own table, where a plugin registers "
                             "one.")(command)


def open_benchmark(spec, column, space, plugins):
    """``(Table, metrics)`` of ``--benchmark``/``--benchmark-column`` for cells of ``space``; ``(None, ())``
    when neither is given and no table covers the space."""
    from tenas_kit.analysis.accuracy import open_table
    from tenas_kit.plugins import registry

    return open_table(spec, space, registry(plugins), column)


def shown_accuracy(table, metrics, arch):
    """``[(label, "93.76" or "not in the table")]``: an architecture's accuracy on each metric, as displayed."""
    row = table.lookup(arch) or {}
    return [(table.label(m), f"{row[m]:.2f}" if m in row else "not in the table") for m in metrics]


def print_accuracy(table, metrics, arch):
    """A ``benchmark accuracy (LABEL): VALUE`` line per metric (``run``, ``show``)."""
    for label, shown in shown_accuracy(table, metrics, arch) if table is not None else ():
        console.print(f"benchmark accuracy ({label}): {shown}", soft_wrap=True)


def apply_preset(config, preset, plugins):
    """``--preset NAME`` replaces the proxies and their rule; naming --proxies as well is contradictory."""
    if preset is None:
        return config
    from tenas_kit.plan import apply_preset as apply
    from tenas_kit.plugins import registry

    return apply(registry(plugins), config, preset, given={name for name in ("proxies", "repeats") if _given(name)})


def _given(name):
    """Whether the user typed the option, as opposed to its default."""
    return click.get_current_context().get_parameter_source(name) not in (ParameterSource.DEFAULT, None)
