"""The ``tenaskit`` command line."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import click
import numpy as np
from rich.console import Console
from rich.table import Table

from tenas_kit import __version__, engine, settings_of
from tenas_kit.cli import exits, limits
from tenas_kit.errors import TenasError
from tenas_kit.plugins import KINDS, NO_PLUGINS, loader, registry

console = Console()


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


@click.group()
@click.version_option(__version__, prog_name="tenaskit")
@click.option("--debug", is_flag=True, help="On an error, print the traceback as well as the one-line message.")
@click.option("--no-plugins", is_flag=True, help="Load only tenas-kit's built-in plugins (no third-party entry points, no --plugin).")
def cli(debug, no_plugins):
    """Training-free neural architecture search (TE-NAS)."""
    # Both act in main() before parsing (plugins add commands and options); declared here for --help.


def default_out(config):
    digest = hashlib.sha1(json.dumps(config.as_dict(), sort_keys=True).encode()).hexdigest()[:8]
    proxies = "+".join(name for name, _ in config.proxies)
    return Path("runs") / f"{config.space}-{proxies}-{config.dataset}-seed{config.seed}-{digest}.h5"


@cli.command()
@click.option("--space", default="nb201", show_default=True, help="Search space.")
@click.option("--proxies", default="ntk,regions", show_default=True, help="Proxies, optionally weighted: ntk,regions:0.5.")
@click.option("--pruner", default="tenas", show_default=True, help="Pruning policy.")
@click.option("--data", default="embedded", show_default=True,
              help="Image directory (ImageFolder, CIFAR root, ImageNet16 pickles), 'embedded' or 'synthetic'.")
@click.option("--dataset", default="cifar10", show_default=True, help="Normalisation and class count preset.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--repeats", type=limits.REPEATS, default=3, show_default=True, help="Repeats averaged per measurement.")
@click.option("--batch-size", type=limits.BATCH, default=None, help="NTK batch (default: the space's; 72 for nb201).")
@click.option("--init", type=click.Choice(["pytorch", "kaiming"]), default="pytorch", show_default=True,
              help="pytorch: reference code's effective init; kaiming: the paper's, redrawn per repeat.")
@click.option("--prune-number", type=click.IntRange(min=1), default=None, help="Ops pruned per edge per round.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Run file (default: runs/<space>-<proxies>-<dataset>-seed<seed>-<hash>.h5).")
@click.option("--workers", type=limits.WORKERS, default=None,
              help="Processes scoring candidates (default: one per CPU core, 1 on CUDA); results do not depend on it.")
@click.option("--benchmark", type=click.Path(path_type=Path), default=None, help="CSV with 'arch' and an accuracy column.")
@click.option("--benchmark-column", default=None, help="Accuracy column of --benchmark (default: first with 'acc').")
@click.option("--resume", is_flag=True, help="Continue this command's interrupted run; an error if there is none "
              "(without it, an interrupted run resumes too).")
@plugin_option
def run(space, proxies, pruner, data, dataset, seed, device, repeats, batch_size, init, prune_number, out,
        workers, benchmark, benchmark_column, resume, plugins, **plugin_options):
    """Search a space by TE-NAS pruning and print the architecture found.

    Plugins may add options of their own (``cli_options``); their values reach
    every plugin in the options mapping under the option's name.
    """
    from tenas_kit.analysis.accuracy import AccuracyTable
    from tenas_kit.cli.progress import RichReporter
    from tenas_kit import resume as resumption
    from tenas_kit.runfile import RunFile, partial_path, read
    from tenas_kit.workers import default_workers

    options = {"batch_size": batch_size, "init": init, "prune_number": prune_number, **plugin_options}
    config = engine.SearchConfig(space, parse_proxies(proxies), pruner, data, dataset, seed, device, repeats, options)
    reg = registry(plugins)
    plan = engine.plan(reg, config)
    table = AccuracyTable(benchmark, benchmark_column) if benchmark else None
    out = out or default_out(config)
    resumption.require_something(resume, partial_path(out), out)
    console.print(f"data: {plan.images.description}")
    if data == "embedded":
        console.print("[yellow]note:[/] the embedded stand-in is not your data set; pass --data DIR for real images.")
    if out.is_file():
        done = read(out)
        if done["config"] != config.as_dict():
            raise TenasError(f"'{out}' holds a finished run with other settings; choose another --out.")
        console.print(f"already searched: {out}")
        report(plan, done["architecture"], out, table)
        return
    run_file = RunFile.open(out, config.as_dict(), settings_of(plan), plan.images.description)
    if run_file.rounds_done:
        console.print(f"resuming {out} after round {run_file.rounds_done}")
    try:
        with RichReporter(console) as reporter:
            workers = workers or default_workers(plan.device)
            arch, _, _ = engine.search(plan, config, run_file, reporter, workers, plugins)
    except KeyboardInterrupt:
        raise resumption.interrupted_run(run_file, partial_path(out)) from None
    finally:
        run_file.close()
    report(plan, arch, out, table)


def report(plan, arch, out, table):
    console.print(f"architecture: [bold]{arch}[/]", soft_wrap=True)
    if table is not None:
        accuracy = table.lookup(plan.space, arch)
        shown = "not in the table" if accuracy is None else f"{accuracy:.2f}"
        console.print(f"benchmark accuracy ({table.column}): {shown}")
    console.print(f"saved: {out}")


@cli.command()
@click.argument("run_file", type=click.Path(path_type=Path))
def show(run_file):
    """Print a run file: settings, every round's candidates and ranks, the trajectory, the result."""
    from tenas_kit.runfile import read

    run = read(run_file)
    console.print(f"[bold]{run_file}[/]  complete={bool(run['complete'])}  data: {run['data']}")
    console.print(f"config: {json.dumps(run['config'])}")
    console.print(f"settings: {json.dumps(run['settings'])}")
    for index, rnd in enumerate(run["rounds"]):
        cols = rnd["columns"]
        table = Table(title=f"round {index + 1} ({rnd['seconds']:.1f} s)")
        table.add_column("candidate", no_wrap=True)
        for name in cols:
            table.add_column(name.replace("_", " "), justify="right")
        for j, label in enumerate(rnd["labels"]):
            table.add_row(label, *[_cell(cols[name][j]) for name in cols])
        console.print(table)
    trajectory = Table(title="supernet trajectory (mean over repeats)")
    trajectory.add_column("after round")
    names = list(run["rounds"][0]["proxies"]) if run["rounds"] else []
    for name in names:
        trajectory.add_column(name, justify="right")
    for index, rnd in enumerate(run["rounds"]):
        trajectory.add_row(str(index), *[f"{rnd['proxies'][n]['base'].mean():.4g}" for n in names])
    if "final" in run:
        trajectory.add_row(str(len(run["rounds"])), *[f"{run['final'][n].mean():.4g}" for n in names])
    console.print(trajectory)
    if "architecture" in run:
        console.print(f"architecture: [bold]{run['architecture']}[/]", soft_wrap=True)


@cli.command()
@click.option("--space", default="nb201", show_default=True)
@click.option("--arch", "--genotype", "arch_text", required=True,
              help="Architecture in the space's canonical text form (a DARTS Genotype(...) string for darts).")
@click.option("--dataset", default="cifar10", show_default=True, help="Sets class count and input resolution.")
@plugin_option
def inspect(space, arch_text, dataset, plugins):
    """Parameter count and multiply-adds of an architecture's evaluation network."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    reg = registry(plugins)
    space_obj, preset = reg.get("space", space), reg.get("dataset", dataset)
    arch = space_obj.parse(arch_text)
    network = space_obj.network(space_obj.arch_to_mask(arch), "evaluation", preset.num_classes).eval()
    params = sum(p.numel() for name, p in network.named_parameters() if "auxiliary" not in name)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        network(torch.zeros(1, 3, preset.resolution, preset.resolution))
    console.print(f"architecture: {space_obj.format(arch)}", soft_wrap=True)
    console.print(f"parameters: {params:,} ({params / 1e6:.3f} M)")
    console.print(f"multiply-adds: {counter.get_total_flops() // 2:,} ({counter.get_total_flops() / 2e6:.1f} M) at {preset.resolution}x{preset.resolution}")


@cli.command()
@click.argument("run_file", type=click.Path(path_type=Path))
@click.option("--format", "fmt", default="text", show_default=True,
              help="text (the space's own form, also accepted as the space's name, e.g. darts), or json.")
@plugin_option
def export(run_file, fmt, plugins):
    """Print a finished run's architecture for training code: the space's text form, or JSON."""
    from tenas_kit.runfile import read

    run = read(run_file)
    if "architecture" not in run:
        raise TenasError(f"'{run_file}' holds no finished architecture; finish the run first.")
    space = registry(plugins).get("space", run["config"]["space"])
    if fmt in ("text", space.name):
        click.echo(run["architecture"])
    elif fmt == "json":
        arch = space.parse(run["architecture"])
        payload = {"space": space.name, "architecture": run["architecture"]}
        if hasattr(space, "to_json"):
            payload.update(space.to_json(arch))
        click.echo(json.dumps(payload, indent=2))
    else:
        raise TenasError(f"unknown export format '{fmt}'; use text, {space.name} or json.")


def _cell(value):
    if isinstance(value, (bool, np.bool_)):
        return "x" if value else ""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.4f}"


@cli.command(name="plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@plugin_option
def plugins_command(as_json, plugins):
    """List every space, proxy, pruner, data source and dataset, and the plugin that provides it."""
    reg = registry(plugins)
    if as_json:
        provided = [{"kind": kind, "name": name, "plugin": entry.plugin} for kind in KINDS for name, entry in reg.entries[kind].items()]
        broken = [{"plugin": b.plugin, "origin": b.origin, "reason": b.reason} for b in reg.broken]
        click.echo(json.dumps({"plugins": reg.plugins, "provided": provided, "broken": broken}, indent=2))
        return
    table = Table(title="tenas-kit plugins")
    for column in ("kind", "name", "plugin", "description"):
        table.add_column(column)
    for kind in KINDS:
        for name, entry in reg.entries[kind].items():
            table.add_row(kind.replace("_", " "), name, entry.plugin, getattr(entry.obj, "description", ""))
    console.print(table)
    if reg.broken:
        broken = Table(title="broken plugins", style="red")
        for column in ("plugin", "origin", "reason"):
            broken.add_column(column)
        for item in reg.broken:
            broken.add_row(item.plugin, item.origin, item.reason)
        console.print(broken)


def _register_plugin_commands():
    current = loader()
    # Plugin options reach both commands that build proxies: a search and a batch ranking.
    for command in (run, cli.commands["rank"]):
        taken = {param.name for param in command.params}
        for kind in ("space", "proxy", "pruner"):
            for obj in current.registry.all(kind):
                for option in getattr(obj, "cli_options", ()):
                    if option.name not in taken:
                        command.params.append(option)
                        taken.add(option.name)
    for impl in current.pm.hook.register_commands.get_hookimpls():
        try:
            impl.function(cli=cli)
        except Exception as exc:  # a plugin's command must not break the CLI
            current._broken(impl.plugin_name, current.registry.plugins.get(impl.plugin_name, "?"),
                            f"register_commands raised {type(exc).__name__}: {exc}")


def _register_builtin_commands():
    from tenas_kit.cli import plots as plotcli, rank as rankcli

    rankcli.register(cli, console, plugin_option, parse_proxies, registry)
    plotcli.register(cli, console, plugin_option, registry)


_register_builtin_commands()


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--no-plugins" in exits.leading_options(argv):
        os.environ[NO_PLUGINS] = "1"
    debug = exits.debug_requested(argv)

    def invoke():
        _register_plugin_commands()
        cli.main(args=argv, prog_name="tenaskit", standalone_mode=False)

    exits.finish(invoke, debug)
