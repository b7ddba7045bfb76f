"""``tenaskit run``, ``show`` and ``export``: a search, and what its run file holds."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
from rich.markup import escape
from rich.table import Table

from tenas_kit.arguments import INIT_SCHEMES
from tenas_kit.cli import limits
from tenas_kit.cli.common import (apply_preset, benchmark_options, console, note_stand_in, open_benchmark,
                                  parse_proxies, plugin_option, plugin_values, preset_option, print_accuracy)
from tenas_kit.errors import TenasError
from tenas_kit.lifecycle import DEFAULT_STORE
from tenas_kit.plan import SearchConfig


@click.command()
@click.option("--space", default="nb201", show_default=True, help="Search space.")
@click.option("--proxies", default="ntk,regions", show_default=True, help="Proxies, optionally weighted: ntk,regions:0.5.")
@click.option("--pruner", default="tenas", show_default=True, help="Pruning policy.")
@click.option("--data", default="embedded", show_default=True,
              help="Image directory (ImageFolder, CIFAR root, ImageNet16 pickles), 'embedded' or 'synthetic'.")
@click.option("--dataset", default="cifar10", show_default=True, help="Normalisation and class count preset.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--repeats", type=limits.REPEATS, default=3, show_default=True,
              help="Repeats averaged per measurement (a preset may set its own).")
@click.option("--init", type=click.Choice(INIT_SCHEMES), default="pytorch", show_default=True,
              help="pytorch: reference code's effective init; kaiming: the paper's, redrawn per repeat.")
@click.option("--executor", default="process", show_default=True,
              help="Where scoring jobs run (tenaskit plugins lists executors); results do not depend on it.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Run file (default: runs/<space>-<proxies>-<dataset>-seed<seed>-<hash>.h5).")
@benchmark_options
@click.option("--queries", type=int, default=0, show_default=True,
              help="After pruning, measure this many cells with --oracle and keep the best (0: none).")
@click.option("--oracle", default=None, metavar="NAME[:METRIC]|FILE.csv[:COLUMN]",
              help="What measures a cell for --queries: an oracle plugin, a benchmark table (nb201:cifar10) "
                   "or a CSV with 'arch' and an accuracy column.")
@click.option("--query-batch", type=int, default=1, show_default=True,
              help="Queries asked at once, each a job on the executor.")
@click.option("--ranker", default=None, metavar="NAME", help="Ranker that learns from the answers (default: the "
              "first registered).")
@click.option("--store", type=click.Path(path_type=Path), default=DEFAULT_STORE, show_default=True,
              help="Score store for the cells --queries considers.")
@click.option("--resume", is_flag=True, help="Continue this command's interrupted run; an error if there is none "
              "(without it, an interrupted run resumes too).")
@preset_option
@plugin_option
def run(space, proxies, pruner, data, dataset, seed, device, repeats, init, executor, out, benchmark,
        benchmark_column, queries, oracle, query_batch, ranker, store, resume, preset, plugins, **plugin_options):
    """Search a space by pruning and print the architecture found.

    Proxies, pruners, executors and oracles add options of their own (``cli_options``); each plugin reads only
    its own. A space adds none: a space is known by its name alone (docs/plugins.md says why).
    """
    from tenas_kit.cli.progress import RichReporter
    from tenas_kit.lifecycle import Search

    options, executor_options = plugin_values(plugin_options)
    oracle_options = {k: options.pop(k) for k in list(options)
                      if k in click.get_current_context().command.oracle_options}
    config = SearchConfig(space, parse_proxies(proxies), pruner, data, dataset, seed, device, repeats,
                          {"init": init, **options}, executor, executor_options)
    search = Search(apply_preset(config, preset, plugins), out, plugins, resume, queries, oracle, query_batch,
                    ranker, store, oracle_options)
    table, metrics = open_benchmark(benchmark, benchmark_column, search.plan.space, plugins)
    console.print(f"data: {escape(search.plan.images.description)}")
    note_stand_in(data)
    if search.finished is not None:
        console.print(f"already searched: {search.path}")
    elif search.resumable:
        console.print(f"resuming {search.partial}")
    with RichReporter(console) as reporter:
        result = search.run(reporter)
    if search.queries is not None:
        from tenas_kit.runfile import read

        print_queries(read(result.path))
    console.print(f"architecture: [bold]{escape(str(result.architecture))}[/]", soft_wrap=True)
    print_accuracy(table, metrics, result.architecture)
    console.print(f"saved: {result.path}")


def print_queries(run):
    """The oracle and every query of a run that spent some: order, answer, cell (one a line: whole cells, which
    paste back)."""
    asked, answers = run["queries"], run["answers"]
    console.print(f"queries: {len(answers)} of {asked['queries']} to oracle {escape(asked['oracle'])} "
                  f"({escape(asked['source'])}); the first is the pruning's cell", soft_wrap=True)
    best = max(range(len(answers)), key=lambda i: answers[i]["answer"], default=None)
    for index, answer in enumerate(answers):
        mark = "  best" if index == best else ""
        console.print(f"  query {index + 1}: {answer['answer']:.4g}  {escape(answer['arch'])}{mark}", soft_wrap=True)


@click.command()
@click.argument("run_file", type=click.Path(path_type=Path))
@benchmark_options
@plugin_option
def show(run_file, benchmark, benchmark_column, plugins):
    """Print a run file: settings, every round's candidates and ranks, the trajectory, the result, and its
    benchmark accuracy (the space's own table unless --benchmark names one). A training file (tenaskit train):
    its settings and every epoch."""
    from tenas_kit.runfile import read
    from tenas_kit.training.trainfile import is_train_file

    if is_train_file(run_file):
        from tenas_kit.cli.train import show_training

        return show_training(run_file)
    run = read(run_file)
    bench, metrics = _run_benchmark(run, benchmark, benchmark_column, plugins)  # a bad table stops before output
    console.print(f"[bold]{escape(str(run_file))}[/]  complete={bool(run['complete'])}  data: {escape(run['data'])}")
    console.print(f"config: {json.dumps(run['config'])}")
    console.print(f"settings: {json.dumps(run['settings'])}")
    for index, rnd in enumerate(run["rounds"]):
        cols = rnd["columns"]
        table = Table(title=f"round {index + 1} ({rnd['seconds']:.1f} s)")
        table.add_column("candidate", no_wrap=True)
        for name in cols:
            table.add_column(escape(name.replace("_", " ")), justify="right")
        for j, label in enumerate(rnd["labels"]):
            table.add_row(escape(label), *[_cell(cols[name][j]) for name in cols])
        console.print(table)
        if rnd.get("pruned"):
            console.print(f"pruned: {', '.join(rnd['pruned'])}", soft_wrap=True, markup=False)
    trajectory = Table(title="supernet trajectory (mean over repeats)")
    trajectory.add_column("after round")
    names = list(run["rounds"][0]["proxies"]) if run["rounds"] else []
    for name in names:
        trajectory.add_column(escape(name), justify="right")
    for index, rnd in enumerate(run["rounds"]):
        trajectory.add_row(str(index), *[f"{rnd['proxies'][n]['base'].mean():.4g}" for n in names])
    if "final" in run:
        trajectory.add_row(str(len(run["rounds"])), *[f"{run['final'][n].mean():.4g}" for n in names])
    console.print(trajectory)
    if "queries" in run:
        console.print(f"searched (the pruning's cell): {escape(run.get('searched', 'not yet'))}", soft_wrap=True)
        print_queries(run)
    if "architecture" in run:
        console.print(f"architecture: [bold]{escape(run['architecture'])}[/]", soft_wrap=True)
        print_accuracy(bench, metrics, run["architecture"])


def _run_benchmark(run, spec, column, plugins):
    """The table ``show`` looks the run's architecture up in; none for a run of a space not installed here,
    unless one was asked for (then the unknown space is the error)."""
    from tenas_kit.plugins import registry

    name = run["config"]["space"]
    if "architecture" not in run or (spec is None and column is None and name not in registry(plugins).names("space")):
        return None, ()
    return open_benchmark(spec, column, registry(plugins).get("space", name), plugins)


def _cell(value):
    if isinstance(value, (bool, np.bool_)):
        return "x" if value else ""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.4f}"


@click.command()
@click.argument("run_file", type=click.Path(path_type=Path))
@click.option("--format", "fmt", default="text", show_default=True,
              help="text (the space's own form, also accepted as the space's name, e.g. darts), or json.")
@plugin_option
def export(run_file, fmt, plugins):
    """Print a finished run's architecture for training code: the space's text form, or JSON."""
    from tenas_kit.plugins import registry
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
