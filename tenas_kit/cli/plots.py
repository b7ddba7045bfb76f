"""``tenaskit plot trajectory|correlation|curve`` and ``tenaskit report``: see a search, a ranking, a training.

matplotlib is imported inside the commands, so it costs nothing when the
command line starts for anything else.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from tenas_kit.cli.common import benchmark_options, open_benchmark, shown_accuracy
from tenas_kit.errors import TenasError


def _out_option(default_help):
    return click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help=default_help)


def load_space(run, registry, plugins):
    """The run's space plugin, or None with the reason, so a run of an uninstalled space still gets its plots."""
    try:
        return registry(plugins).get("space", run["config"]["space"]), None
    except TenasError as exc:
        return None, f"no cell diagram or benchmark lookup: {exc}"


def axis_labels(reg, run):
    """Axis titles from the proxy plugins: the symbol their description starts with, and which way is better."""
    labels = {}
    for name, _ in run["config"]["proxies"]:
        try:
            proxy = reg.get("proxy", name)
        except TenasError:
            continue  # not installed here: the bare name will do
        symbol, colon, _ = getattr(proxy, "description", "").partition(":")
        prefix = f"{symbol.strip()} ({name})" if colon and len(symbol) <= 20 else name
        labels[name] = f"{prefix}, {'higher' if proxy.higher_is_better else 'lower'} is better"
    return labels


def found_accuracy(run, space, benchmark, column, plugins):
    """``(shown line, note)`` of the found architecture on every metric shown (``--benchmark``, else the space's
    own table): a benchmark that cannot be used leaves the accuracy out, it does not stop the plot."""
    asked = benchmark is not None or column is not None
    if space is None or "architecture" not in run:
        return None, "benchmark accuracy left out: the architecture cannot be looked up." if asked else None
    try:
        table, metrics = open_benchmark(benchmark, column, space, plugins)
        shown = shown_accuracy(table, metrics, run["architecture"]) if table is not None else []
    except TenasError as exc:
        return None, f"benchmark accuracy left out: {exc}"
    return ", ".join(f"{label}: {value}" for label, value in shown) or None, None


def final_cell(run, space):
    """``(space's JSON form, cell figure, note)`` of the found architecture; a cell that cannot be drawn is a note."""
    from tenas_kit.analysis import plots

    if space is None or "architecture" not in run:
        return None, None, None
    arch = space.parse(run["architecture"])
    arch_json = space.to_json(arch) if hasattr(space, "to_json") else None
    try:
        return arch_json, plots.cell_figure(space.layout, space.arch_to_mask(arch)), None
    except TenasError as exc:
        return arch_json, None, f"no cell diagram: {exc}"


def read_ranking(path, benchmark, column, space, plugins=()):
    """Scores and accuracies as ``tenaskit correlate`` reads them; a score store is refused with the way out."""
    from tenas_kit.cli.rank import benchmark_scores

    if Path(path).suffix.lower() in (".h5", ".hdf5"):
        # A store's keys are hashes of (architecture, settings, data, seed): it cannot say which architectures it holds.
        raise TenasError(f"'{path}' is an HDF5 file; give the --out CSV or JSON of tenaskit rank. To plot a score store, "
                         f"rerun tenaskit rank with the same settings, --store {path} and --out FILE.csv: "
                         f"stored scores are read, not recomputed.")
    return benchmark_scores(path, benchmark, column, space, plugins)


def training_report(path, out):
    from tenas_kit.analysis import plots, report
    from tenas_kit.analysis.curves import curve_figure
    from tenas_kit.training.trainfile import read

    held = read(path)
    return report.write(out, report.training_page(path.name, held, plots.png_bytes(curve_figure(held))))


def register(cli, console, plugin_option, registry):
    def note(text):
        if text:
            console.print(f"[yellow]note:[/] {escape(text)}", soft_wrap=True)

    def saved(path):
        # Unwrapped and unstyled: the path is copied from the terminal or parsed by scripts.
        console.print(f"saved: {path}", soft_wrap=True, markup=False, highlight=False)

    @cli.group()
    def plot():
        """Draw a run's pruning trajectory, or a ranking's scores against benchmark accuracy."""

    @plot.command()
    @click.argument("run_file", type=click.Path(path_type=Path))
    @_out_option("FILE.png, .svg or .pdf (default: RUN-trajectory.png beside the run file).")
    @benchmark_options
    @plugin_option
    def trajectory(run_file, out, benchmark, benchmark_column, plugins):
        """The supernet's kappa_N and R_N after every round, each round's candidates, the pruned ops."""
        from tenas_kit.analysis import plots
        from tenas_kit.runfile import read
        from tenas_kit.training.trainfile import is_train_file

        out = out or run_file.with_name(run_file.stem + "-trajectory.png")
        plots.check_output(out)
        if is_train_file(run_file):
            raise TenasError(f"'{run_file}' is a training file; tenaskit plot curve {run_file} draws its learning "
                             f"curve.")
        run = read(run_file)
        space, why = load_space(run, registry, plugins)
        accuracy, problem = found_accuracy(run, space, benchmark, benchmark_column, plugins)
        note((why if benchmark or benchmark_column else None) or problem)
        saved(plots.save(plots.trajectory_figure(run, accuracy, axis_labels(registry(plugins), run)), out))

    @plot.command()
    @click.argument("results", type=click.Path(path_type=Path))
    @benchmark_options
    @click.option("--space", default="nb201", show_default=True, help="Space of the ranked architectures.")
    @click.option("--resamples", type=click.IntRange(min=100), default=1000, show_default=True, help="Bootstrap resamples.")
    @_out_option("FILE.png, .svg or .pdf (default: RESULTS-correlation.png beside the results).")
    @plugin_option
    def correlation(results, benchmark, benchmark_column, space, resamples, out, plugins):
        """Each proxy's score (and the rank sum) against accuracy, Kendall tau in each panel's title.

        RESULTS is the --out CSV or JSON of tenaskit rank, as for tenaskit correlate.
        """
        from tenas_kit.analysis import plots

        out = out or results.with_name(results.stem + "-correlation.png")
        plots.check_output(out)
        scores, accuracy, column = read_ranking(results, benchmark, benchmark_column,
                                                registry(plugins).get("space", space), plugins)
        saved(plots.save(plots.correlation_figure(scores, accuracy, column, resamples), out))

    @plot.command()
    @click.argument("train_file", type=click.Path(path_type=Path))
    @_out_option("FILE.png, .svg or .pdf (default: TRAIN-curve.png beside the training file).")
    def curve(train_file, out):
        """A training file's learning curve: loss and accuracy after every epoch, training and test."""
        from tenas_kit.analysis import plots
        from tenas_kit.analysis.curves import curve_figure
        from tenas_kit.training.trainfile import read

        out = out or train_file.with_name(train_file.stem + "-curve.png")
        plots.check_output(out)
        saved(plots.save(curve_figure(read(train_file)), out))

    @cli.command(name="report")
    @click.argument("run_file", type=click.Path(path_type=Path))
    @_out_option("FILE.html (default: RUN.html beside the run file).")
    @benchmark_options
    @plugin_option
    def report_command(run_file, out, benchmark, benchmark_column, plugins):
        """One self-contained HTML page of a run: settings, trajectory, rounds, the found cell, timings, versions.
        Of a training file (tenaskit train): settings, the learning curve, every epoch."""
        from tenas_kit.analysis import plots, report
        from tenas_kit.runfile import read
        from tenas_kit.training.trainfile import is_train_file

        out = out or run_file.with_suffix(".html")
        report.check_output(out)
        if is_train_file(run_file):
            return saved(training_report(run_file, out))
        run = read(run_file)
        space, why = load_space(run, registry, plugins)
        accuracy, problem = found_accuracy(run, space, benchmark, benchmark_column, plugins)
        arch_json, cell, undrawn = final_cell(run, space)
        trajectory = plots.trajectory_figure(run, accuracy, axis_labels(registry(plugins), run))
        figures = {"trajectory": plots.png_bytes(trajectory)}
        if cell is not None:
            figures["cell"] = plots.png_bytes(cell)
        notes = [text for text in (why, problem, undrawn) if text]
        for text in notes:
            note(text)
        page = report.page(run_file.name, run, figures, arch_json, accuracy, notes)
        saved(report.write(out, page))
