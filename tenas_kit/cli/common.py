"""What the commands share: the console, option parsing, and the options plugins declare."""

from __future__ import annotations

import click
from click.core import ParameterSource
from rich.console import Console

from tenas_kit.errors import TenasError

console = Console()

# The plugin kinds whose ``cli_options`` each command shows: a pruner's option only where a pruner runs.
USES = {"run": ("proxy", "pruner", "executor"), "rank": ("proxy", "executor")}


def parse_proxies(text):
    """``ntk,regions,synflow:0.5`` -> [(name, weight)]."""
    out = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, weight = item.partition(":")
        try:
            value = float(weight) if weight else 1.0
        except ValueError:
            raise TenasError(f"weight '{weight}' of proxy '{name}' is not a number; write e.g. ntk:1,regions:0.5.") from None
        if not value > 0:
            raise TenasError(f"weight of proxy '{name}' must be positive, got {weight}.")
        out.append((name, value))
    if not out:
        raise TenasError("--proxies is empty; name at least one proxy, e.g. --proxies ntk,regions.")
    return out


def plugin_option(command):
    return click.option(
        "--plugin", "--plugins-dir", "plugins", multiple=True, metavar="MODULE|FILE.py|DIR",
        help="Load an extra plugin: a module, a .py file, or every .py file of a directory (repeatable).",
    )(command)


def add_plugin_options(command, registry):
    """Give ``command`` the options of every plugin of the kinds it uses; remember which are the executors'."""
    taken = {param.name for param in command.params}
    command.executor_options = set()
    for kind in USES[command.name]:
        for obj in registry.all(kind):
            for option in getattr(obj, "cli_options", ()):
                if kind == "executor":
                    command.executor_options.add(option.name)
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


def apply_preset(config, preset, plugins):
    """``--preset NAME`` replaces the proxies and their rule; naming --proxies as well is contradictory."""
    if preset is None:
        return config
    if _given("proxies"):
        raise TenasError("give --proxies or --preset, not both: a preset names its own proxies.")
    from tenas_kit.plan import apply_preset as apply
    from tenas_kit.plugins import registry

    return apply(registry(plugins), config, preset, repeats_given=_given("repeats"))


def _given(name):
    """Whether the user typed the option, as opposed to its default."""
    return click.get_current_context().get_parameter_source(name) not in (ParameterSource.DEFAULT, None)
